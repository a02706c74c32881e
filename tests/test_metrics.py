"""Each metric on small hand-made cases whose values are worked out by hand (no models, fast)."""

import pytest

from rag import metrics as m
from rag.evalset import EvalItem
from rag.schema import Answer, Citation
from rag.scoring import EvalRecord, Retrieved, score, summarize


# --- answers ---------------------------------------------------------------------------------------
def test_normalize_is_squad_style() -> None:
    assert m.normalize("The  Fifty-Year RULE, of an era!") == "fifty year rule of era"
    assert m.normalize("bases of the Adriatic—fell “again”") == "bases of adriatic fell again"


@pytest.mark.parametrize(
    ("prediction", "golds", "expected"),
    [
        ("Maher al-Assad fled to Iraq.", ["Iraq"], True),
        ("He fled to Iraqi Kurdistan.", ["Iraq"], False),  # whole words only
        ("The 50-year rule ended.", ["50 year rule"], True),
        ("", ["Iraq"], False),
        ("Iraq", [], False),
        ("Iraq", [""], False),  # a blank gold answer never matches
    ],
)
def test_contains_answer(prediction: str, golds: list[str], expected: bool) -> None:
    assert m.contains_answer(prediction, golds) is expected


def test_exact_match() -> None:
    assert m.exact_match("the Iraq.", ["Syria", "Iraq"])
    assert not m.exact_match("Iraq and Syria", ["Iraq"])
    assert not m.exact_match("", ["Iraq"])


def test_token_f1_known_values() -> None:
    # prediction "fled to iraq" vs gold "iraq": precision 1/3, recall 1 -> F1 = 0.5
    assert m.token_f1("fled to Iraq", ["Iraq"]) == pytest.approx(0.5)
    # best of several golds: "russian military base" vs prediction "a russian base" -> p 2/2, r 2/3 -> 0.8
    assert m.token_f1("a Russian base", ["Moscow", "Russian military base"]) == pytest.approx(0.8)
    assert m.token_f1("Moscow", ["Iraq"]) == 0.0


def test_token_f1_with_empty_answers() -> None:
    assert m.token_f1("", ["Iraq"]) == 0.0  # an empty answer to an answerable question
    assert m.token_f1("", []) == 1.0  # SQuAD 2.0: no answer expected, none given
    assert m.token_f1("Iraq", []) == 0.0


# --- retrieval -------------------------------------------------------------------------------------
def test_retrieval_metrics_known_values() -> None:
    # 2 gold units; the passage at rank 2 holds unit 0, rank 4 holds unit 1
    ranking: list[set[int]] = [set(), {0}, set(), {1}]
    assert not m.hit_at(ranking, 1)
    assert m.hit_at(ranking, 2)
    assert m.recall_at(ranking, 2, units=2) == 0.5
    assert m.recall_at(ranking, 4, units=2) == 1.0
    assert m.reciprocal_rank(ranking) == 0.5


def test_retrieval_metrics_edge_cases() -> None:
    assert not m.hit_at([], 5) and m.reciprocal_rank([]) == 0.0
    assert m.recall_at([], 5, units=2) == 0.0
    assert m.recall_at([{0}], 5, units=0) is None  # no gold support: undefined, not zero
    assert m.reciprocal_rank([set(), set(), set()]) == 0.0


# --- abstention ------------------------------------------------------------------------------------
def test_abstention_precision_recall_f1() -> None:
    should = [True, True, True, False, False, False]
    did = [True, True, False, True, False, False]  # TP 2, FN 1, FP 1
    p, r, f1 = m.precision_recall_f1(should, did)
    assert p == pytest.approx(2 / 3) and r == pytest.approx(2 / 3) and f1 == pytest.approx(2 / 3)


def test_abstention_edge_cases() -> None:
    # all unanswerable, the bot always answers: nothing predicted -> precision undefined, recall and F1 zero
    assert m.precision_recall_f1([True, True], [False, False]) == (None, 0.0, 0.0)
    # all answerable, never abstains: nothing to measure
    assert m.precision_recall_f1([False, False], [False, False]) == (None, None, None)
    # all unanswerable, all abstained
    assert m.precision_recall_f1([True, True], [True, True]) == (1.0, 1.0, 1.0)
    assert m.precision_recall_f1([], []) == (None, None, None)


# --- citations and groundedness --------------------------------------------------------------------
def test_citation_precision_and_recall() -> None:
    assert m.citation_precision([True, False, False, True]) == 0.5
    assert m.citation_recall([False, True])
    assert m.citation_precision([]) is None  # no citations: precision undefined
    assert not m.citation_recall([])  # ... and no supporting citation


def test_answer_sentences_keep_trailing_markers() -> None:
    assert m.answer_sentences("Mr. al-Assad fled to Moscow. [1] His brother fled to Iraq [2].") == [
        "Mr. al-Assad fled to Moscow. [1]",
        "His brother fled to Iraq [2].",
    ]


def test_sentence_coverage_known_values() -> None:
    cited = {1: "His brother, Maher al-Assad, also fled to Iraq.", 2: "He flew to Moscow."}
    # sentence 1: maher, al, assad, fled, iraq -> all in [1]; sentence 2: assad, flew, moscow, 2024 -> 2/4 in [2]
    coverage = m.sentence_coverage("Maher al-Assad fled to Iraq [1]. Assad flew to Moscow in 2024 [2].", cited)
    assert coverage == [1.0, 0.5]
    assert m.grounded_sentences("Maher al-Assad fled to Iraq [1]. Assad flew to Moscow in 2024 [2].", cited) == (1, 2)


def test_sentence_coverage_edge_cases() -> None:
    assert m.sentence_coverage("", {1: "text"}) == []  # empty answer: no sentences
    assert m.sentence_coverage("Maher fled to Iraq.", {}) == [0.0]  # no citations: nothing covers it
    # a sentence without a marker of its own is checked against all the answer's citations
    assert m.sentence_coverage("Maher fled to Iraq.", {1: "Maher fled to Iraq."}) == [1.0]


def test_percentile_and_means() -> None:
    assert m.percentile([100.0, 200.0, 300.0, 400.0], 50) == 250.0
    assert m.percentile([float(i) for i in range(1, 101)], 95) == pytest.approx(95.05)
    assert m.percentile([], 50) is None
    assert m.mean([True, False, None, True]) == pytest.approx(2 / 3)
    assert m.mean([None]) is None and m.ratio(1, 0) is None


# --- scoring and summaries of hand-made runs --------------------------------------------------------
IRAQ = "His brother, Maher al-Assad, along with senior military officers, also fled to Iraq."
MOSCOW = "Mr. al-Assad departed the capital, first flying to a Russian military base and then to Moscow."


def cite(n: int, text: str, source: str = "a.txt") -> Citation:
    return Citation(n=n, source=source, chunk_id=f"c{n}", text=text, start=0, end=len(text), score=0.8)


def record(item: EvalItem, answer: Answer, ranking: list[set[int]] | None = None, ms: float = 100.0) -> EvalRecord:
    answer.timings_ms = {"total": ms}
    retrieved = [Retrieved(source="a.txt", chunk_id=str(i), support=sorted(s)) for i, s in enumerate(ranking or [])]
    return score("test", item, answer, retrieved, retrieval_ms=ms / 10)


def test_a_correct_cited_answer() -> None:
    item = EvalItem(id="q1", question="Where did Maher flee?", answers=["Iraq"], evidence=["also fled to Iraq"])
    r = record(item, Answer(answer="Maher al-Assad fled to Iraq [1] [2].", citations=[cite(1, IRAQ), cite(2, MOSCOW)]))
    assert r.correct and r.supported and not r.exact_match
    assert r.f1 == pytest.approx(2 / 7)  # "maher al assad fled to iraq" vs "iraq": p 1/6, r 1
    assert r.citation_support == [True, False]
    assert (r.grounded_sentences, r.sentences) == (1, 1)


def test_an_abstention_scores_nothing_as_given() -> None:
    item = EvalItem(id="q1", question="Where did Maher flee?", answers=["Iraq"], evidence=["also fled to Iraq"])
    r = record(item, Answer(answer="The documents do not say.", abstained=True))
    assert not r.correct and not r.supported and r.f1 == 0.0 and r.citation_support == []
    assert r.sentences == 0


def test_supporting_documents_count_only_passages_with_the_answer() -> None:
    item = EvalItem(id="q", question="Where?", answers=["Iraq"], supporting_doc_ids=["syria__p001"])
    assert item.supported_by("He fled to Iraq.", "syria__p001.txt") == {0}
    assert item.supported_by("He fled to Iraq.", "sub/syria__p001.txt") == {0}
    assert item.supported_by("He fled somewhere.", "syria__p001.txt") == set()  # right file, wrong chunk
    assert item.supported_by("He fled to Iraq.", "other.txt") == set()
    sources = EvalItem(id="q", question="Where?", answers=["Iraq"], sources=["syria.txt"])
    assert sources.supported_by("fled to Iraq", "syria.txt") == {0}


def test_summary_of_a_small_run_has_the_hand_computed_values() -> None:
    a1 = EvalItem(id="a1", question="Where did Maher flee?", answers=["Iraq"], evidence=["also fled to Iraq"])
    a2 = EvalItem(id="a2", question="Where did he fly first?", answers=["Russian military base"], evidence=[MOSCOW])
    u1 = EvalItem(id="u1", question="Who won the World Cup?")
    u2 = EvalItem(id="u2", question="How old is he?")
    records = [
        # a1: right, cites the evidence; retrieval finds it at rank 2
        record(a1, Answer(answer="Maher fled to Iraq [1].", citations=[cite(1, IRAQ)]), [set(), {0}], ms=100),
        # a2: wrong answer citing the wrong passage; evidence at rank 1
        record(a2, Answer(answer="He flew to Iraq [1].", citations=[cite(1, IRAQ)]), [{0}, set()], ms=200),
        # u1: rightly abstains
        record(u1, Answer(answer="The documents do not say.", abstained=True), ms=300),
        # u2: answers where it should abstain
        record(u2, Answer(answer="He is 59 [1].", citations=[cite(1, MOSCOW)]), ms=400),
    ]
    s = summarize(records, k=1)
    assert (s.questions, s.answerable, s.unanswerable) == (4, 2, 2)
    assert s.hit == {1: 0.5, 5: 1.0, 10: 1.0} and s.recall[1] == 0.5
    assert s.mrr == pytest.approx((0.5 + 1.0) / 2)
    assert s.accuracy == 0.5 and s.accuracy_cited == 0.5 and s.exact_match == 0.0
    assert s.false_abstention_rate == 0.0
    # abstention: TP u1, FN u2, no FP -> precision 1, recall 0.5, F1 2/3
    assert s.abstention_precision == 1.0 and s.abstention_recall == 0.5
    assert s.abstention_f1 == pytest.approx(2 / 3)
    assert s.unanswerable_answered_rate == 0.5
    # citations over answered answerable questions: a1 1/1 supporting, a2 0/1
    assert s.citation_precision == 0.5 and s.citation_recall == 0.5
    # groundedness over 3 answers given: a1 grounded; a2 "flew" not in IRAQ (1/2 < 0.8); u2 "59" not in MOSCOW
    assert s.groundedness == pytest.approx(1 / 3)
    assert s.latency_p50_ms == 250.0 and s.retrieval_p50_ms == 25.0 and s.timed_questions == 4


def test_summary_when_every_question_is_unanswerable() -> None:
    u = [EvalItem(id=f"u{i}", question="Who won the World Cup?") for i in range(3)]
    records = [
        record(u[0], Answer(answer="The documents do not say.", abstained=True)),
        record(u[1], Answer(answer="The documents do not say.", abstained=True)),
        record(u[2], Answer(answer="France won [1].", citations=[cite(1, IRAQ)])),
    ]
    s = summarize(records, k=4)
    assert s.answerable == 0
    assert s.accuracy is None and s.f1 is None and s.hit[4] is None and s.mrr is None
    assert s.citation_precision is None and s.citation_recall is None
    assert s.abstention_precision == 1.0 and s.abstention_recall == pytest.approx(2 / 3)
    assert s.abstention_f1 == pytest.approx(0.8)  # 2*2 / (2*2 + 0 + 1)
    assert s.groundedness == 0.0  # "France won" is not in the cited passage


def test_summary_of_answers_without_citations() -> None:
    item = EvalItem(id="a", question="Where did Maher flee?", answers=["Iraq"], evidence=["also fled to Iraq"])
    s = summarize([record(item, Answer(answer="Maher fled to Iraq."))], k=4)
    assert s.accuracy == 1.0 and s.accuracy_cited == 0.0  # right, but nothing shows where it came from
    assert s.citation_precision is None and s.citation_recall == 0.0 and s.groundedness == 0.0


def test_answers_reused_from_the_cache_are_not_timed() -> None:
    item = EvalItem(id="u", question="Who won the World Cup?")
    timed = record(item, Answer(answer="The documents do not say.", abstained=True), ms=6000)
    reused = score("test", item, Answer(answer="x", abstained=True, timings_ms={"total": 5}), [], 1.0, cached=True)
    s = summarize([timed, reused], k=4)
    assert s.latency_p50_ms == 6000 and s.timed_questions == 1


@pytest.mark.parametrize(
    ("reply", "gold", "right"),
    [
        ("Yes, Maher al-Assad fled to Iraq [1].", "yes", True),
        ("No, the speech was never given [1].", "no", True),
        ("Yes, there was no speech [1].", "no", False),  # "no" elsewhere is not the answer's polarity
        ("No, he fled to Iraq.", "yes", False),
        ("The documents do not say.", "no", False),
    ],
)
def test_a_yes_or_no_gold_answer_is_the_replys_first_word(reply: str, gold: str, right: bool) -> None:
    assert m.contains_answer(reply, [gold]) is right
    assert m.lenient_match(reply, [gold], "Did he flee?") is right
