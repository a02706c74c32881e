"""``rag calibrate``: the choice of thresholds (pure functions on hand-made signals), the deletion
retriever on a real index, how a stored calibration is applied and shown, and one run end to end
with the local LLM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from rag.answer import QAEngine
from rag.calibrate import (
    JUDGE_GRID,
    DeletionRetriever,
    HidingStore,
    Signal,
    answered,
    choose,
    decide,
    overlapping,
    passage_order,
    rates,
    split_halves,
)
from rag.calibration import (
    Calibration,
    DefaultRates,
    Rates,
    Tradeoff,
    apply_calibration,
    calibration_note,
    calibration_path,
    load_calibration,
)
from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import answer_policy, build_engine, build_generator, build_ingestor, build_store
from rag.generators import model_name
from rag.schema import Chunk
from rag.service import RagService
from rag.store import Store
from tests.server import serve
from tests.test_cli import one_line_error, rag

QUESTION = "Where did Maher al-Assad flee to?"
PRE_GENERATION = {"not_in_documents", "no_relevant_passage"}  # checks that decline before generating


def sig(
    cid: str,
    answerable: bool,
    decline: float | None,
    best: float = 0.6,
    abstained: bool = False,
    judge: float | None = None,
) -> Signal:
    return Signal(
        chunk_id=cid,
        question=f"q-{cid}",
        answerable=answerable,
        best_score=best,
        decline_prob=decline,
        judge_prob=judge,
        abstained=abstained,
    )


# --- the replay and the choice, on hand-made signals ---
def test_replay_follows_the_chains_order_of_checks() -> None:
    assert answered(sig("a", True, 0.04), decline_threshold=0.05, min_score=0.2)
    assert not answered(sig("a", True, 0.05), 0.05, 0.2)  # the gate abstains at decline_prob >= threshold
    assert not answered(sig("a", True, 0.01, best=0.19), 0.05, 0.2)  # below the min score: declined
    assert not answered(sig("a", True, 0.0, abstained=True), 1.0, -1.0)  # another check declined: stays declined
    assert answered(sig("a", True, None), 0.0, 0.2)  # no decline probability (a remote generator): no gate
    # the judge comes last: it declines a "yes" below its threshold; a draft it was not asked about stands
    assert answered(sig("a", True, 0.01, judge=0.7), 0.05, 0.2, judge_threshold=0.7)
    assert not answered(sig("a", True, 0.01, judge=0.69), 0.05, 0.2, judge_threshold=0.7)
    assert not answered(sig("a", True, 0.06, judge=0.99), 0.05, 0.2, judge_threshold=0.5)  # the gate first
    assert answered(sig("a", True, 0.01, judge=None), 0.05, 0.2, judge_threshold=0.9)
    r = rates([sig("a", True, 0.01), sig("b", True, 0.5), sig("c", False, 0.01), sig("d", False, 0.9)], 0.1, 0.2)
    assert (r.answerable_answered, r.answerable, r.unanswerable_answered, r.unanswerable) == (1, 2, 1, 2)
    assert (r.answered_answerable, r.answered_unanswerable) == (0.5, 0.5)


def test_choice_meets_the_target_and_answers_the_most_answerable() -> None:
    answerable = [sig(f"a{i}", True, p) for i, p in enumerate([0.001, 0.004, 0.008, 0.04, 0.12, 0.4])]
    unanswerable = [sig(f"u{i}", False, p) for i, p in enumerate([0.003, 0.06, 0.25, 0.6, 0.8])]
    grid = [0.002, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0]
    # at most 20%: one of the five unanswerable may be answered. 0.05 answers u0 (1/5) and four answerable;
    # 0.1 would answer u1 too (2/5).
    c = choose(answerable + unanswerable, 0.2, grid)
    assert c.target_met and c.decline_threshold == 0.05
    assert (c.fit.unanswerable_answered, c.fit.answerable_answered) == (1, 4)
    # a target of 0: only thresholds at or below u0's 0.003 are allowed; 0.002 answers a0 alone
    assert choose(answerable + unanswerable, 0.0, grid).decline_threshold == 0.002
    # the min score is a second lever: u0 has a low best score, so a higher min score removes it
    low = [sig("a", True, 0.001, best=0.7), sig("u", False, 0.001, best=0.25), sig("u2", False, 0.9)]
    c = choose(low, 0.0, [0.01, 1.0], [0.2, 0.3])
    assert (c.decline_threshold, c.min_score, c.fit.answerable_answered) == (0.01, 0.3, 1)


def test_the_judge_threshold_is_a_third_lever() -> None:
    # u0 and u1 pass the decline gate and the min score; the judge is less sure of them than of the
    # answerable ones, so asking for a clearer "yes" removes them and keeps every answerable question
    answerable = [sig(f"a{i}", True, 0.01, judge=p) for i, p in enumerate([0.97, 0.93, 0.85, 0.6])]
    unanswerable = [sig("u0", False, 0.01, judge=0.55), sig("u1", False, 0.02, judge=0.75), sig("u2", False, 0.9)]
    signals = answerable + unanswerable
    judges = [0.3, 0.5, 0.7, 0.8, 0.9]
    c = choose(signals, 0.0, [0.005, 0.05, 1.0], [0.2], judges, judge_default=0.5)
    assert c.target_met and (c.decline_threshold, c.judge_threshold) == (0.05, 0.8)
    assert (c.fit.answerable_answered, c.fit.unanswerable_answered) == (3, 0)
    # a looser target keeps the configured judge threshold: of tied settings, the one changed least
    c = choose(signals, 0.67, [0.005, 0.05, 1.0], [0.2], judges, judge_default=0.5)
    assert c.judge_threshold == 0.5 and (c.fit.answerable_answered, c.fit.unanswerable_answered) == (4, 2)
    # a judge as sure of the unanswerable question as of the answerable one: a threshold above both
    # meets the target by answering nothing, which is never a choice
    same = [sig("u", False, 0.0, judge=0.6), sig("a", True, 0.0, judge=0.6)]
    c = choose(same, 0.0, [0.01, 1.0], [0.2], judges, judge_default=0.5)
    assert not c.target_met and c.judge_threshold == 0.5 and c.fit.answerable_answered == 1
    assert "no setting answers at most 0%" in c.note and "judge threshold 0.5" in c.note


def test_ties_go_to_the_lowest_min_score_then_the_middle_of_the_tied_thresholds() -> None:
    signals = [sig("a", True, 0.001), sig("b", True, 0.002), sig("u", False, 0.6)]
    grid = [0.0005, 0.005, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0]
    # 0.005 .. 0.5 all answer both answerable and no unanswerable question: the middle of them
    c = choose(signals, 0.0, grid, [0.2, 0.25, 0.3])
    assert (c.decline_threshold, c.min_score) == (0.05, 0.2)
    # fewer unanswerable answered wins a tie on the answerable ones
    c = choose([sig("a", True, 0.01), sig("u", False, 0.02), sig("v", False, 0.6)], 0.5, [0.015, 0.05, 1.0])
    assert c.decline_threshold == 0.015 and c.fit.unanswerable_answered == 0


def test_an_impossible_target_gives_the_closest_setting_and_says_so() -> None:
    # an unanswerable question the model never leans to decline, close to the question: nothing stops
    # it, so no setting meets 0%; the closest answers only it and both answerable questions
    signals = [
        sig("a1", True, 0.01, best=0.5),
        sig("a2", True, 0.001, best=0.8),
        sig("u1", False, 0.0, best=0.9),
        sig("u2", False, 0.03, best=0.35),
    ]
    c = choose(signals, 0.0, [0.005, 0.05, 1.0], [0.2, 0.4, 0.6])
    assert not c.target_met
    assert (c.decline_threshold, c.min_score) == (0.05, 0.4)
    assert (c.fit.unanswerable_answered, c.fit.answerable_answered) == (1, 2)
    assert "no setting answers at most 0%" in c.note and "the closest (decline threshold 0.05, min score 0.4)" in c.note
    with pytest.raises(Exception, match="no questions"):
        choose([], 0.05)


def test_the_choice_never_looks_at_the_held_out_half() -> None:
    fit_ids, held_ids = split_halves(f"c{i}" for i in range(10))
    assert fit_ids.isdisjoint(held_ids) and len(fit_ids) == len(held_ids) == 5
    assert split_halves(reversed([f"c{i}" for i in range(10)])) == (fit_ids, held_ids)  # order does not matter
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    probs = [0.04, 0.3, 0.5, 0.08, 0.9]  # of the fitting half's deletion questions; answerable: a 20th

    def signals(held_decline: float) -> list[Signal]:
        out = []
        for i, cid in enumerate(sorted(fit_ids)):
            out += [sig(cid, True, probs[i] / 20), sig(cid, False, probs[i])]
        for cid in held_ids:
            out += [sig(cid, True, held_decline / 20), sig(cid, False, held_decline)]
        return out

    easy, hard = decide(signals(0.99), fit_ids, 0.05, settings), decide(signals(0.0), fit_ids, 0.05, settings)
    assert easy.choice == hard.choice  # same fitting half, same choice, however the held-out half looks
    assert easy.held_out.unanswerable_answered == 0 and hard.held_out.unanswerable_answered == 5
    assert hard.held_out.answered_unanswerable == 1.0 and "held-out half answers 100%" in hard.note
    # the settings it replaces are reported on both halves
    assert (hard.before.decline_threshold, hard.before.min_score) == (0.07, 0.2)
    # a threshold set explicitly stays as it is (it would win anyway) and the note says so
    fixed = decide(signals(0.0), fit_ids, 0.05, Settings(_env_file=None, decline_threshold=0.5))  # type: ignore[call-arg]
    assert fixed.choice.decline_threshold == 0.5 and "RAG_DECLINE_THRESHOLD set explicitly" in fixed.note
    # the judge is swept only when it was asked (a judge probability measured), and never when set explicitly
    assert hard.choice.judge_threshold == 0.5 and hard.before.judge_threshold == 0.5
    judged = [s.model_copy(update={"judge_prob": 0.6 if s.answerable else 0.4}) for s in signals(0.0)]
    assert decide(judged, fit_ids, 0.05, settings).choice.judge_threshold == 0.5  # 0.5 already declines u
    strict = [s.model_copy(update={"judge_prob": 0.9 if s.answerable else 0.6}) for s in signals(0.0)]
    swept = decide(strict, fit_ids, 0.05, settings)
    assert swept.choice.judge_threshold == 0.7 and swept.held_out.unanswerable_answered == 0
    assert "a looser --target" not in swept.note  # it answers as many answerable questions as before
    # a target met by giving up most answers says so
    costly = [sig(cid, True, 0.0, judge=0.95 if cid == min(fit_ids) else 0.6) for cid in fit_ids]
    costly += [sig(cid, False, 0.0, judge=0.6) for cid in fit_ids]
    dear = decide(costly, fit_ids, 0.05, settings)
    assert dear.choice.target_met and dear.choice.fit.answered_answerable == 0.2
    assert "this answers 20% of the answerable questions, where the current settings answer 100%" in dear.note
    # the choices other targets would make are shown beside it, each with its held-out rates
    assert [o.target for o in swept.tradeoffs] == [0.05, 0.1, 0.2, 0.3]
    asked = swept.tradeoffs[0]
    assert (asked.decline_threshold, asked.judge_threshold, asked.held_out) == (
        swept.choice.decline_threshold,
        swept.choice.judge_threshold,
        swept.held_out,
    )
    assert [o.target for o in decide(strict, fit_ids, 0.15, settings).tradeoffs] == [0.05, 0.1, 0.15, 0.2, 0.3]
    off = decide(strict, fit_ids, 0.05, Settings(_env_file=None, judge_threshold=0))  # type: ignore[call-arg]
    assert off.choice.judge_threshold == 0 and "RAG_JUDGE_THRESHOLD set explicitly" in off.note


def test_passages_are_sampled_round_robin_and_spread_within_each_document() -> None:
    def chunk(source: str, i: int, words: int = 20) -> Chunk:
        return Chunk(id=f"{source}{i}", source=source, text="word " * words, start=100 * i, end=100 * i + 90)

    chunks = [chunk("a", i) for i in range(8)] + [chunk("b", i) for i in range(2)] + [chunk("a", 99, words=3)]
    order = [c.id for c in passage_order(chunks)]
    assert "a99" not in order and len(order) == 10  # too short for a question
    assert order[:4] == ["a4", "b1", "a2", "b0"]  # alternating documents, each from its middle outwards
    assert [cid for cid in order if cid[0] == "a"][:3] == ["a4", "a2", "a6"]  # spread over document a
    assert sorted(order) == sorted(c.id for c in chunks if c.id != "a99")


def test_a_deletion_hides_every_chunk_overlapping_the_passage_in_its_file() -> None:
    def chunk(cid: str, start: int, end: int, source: str = "a.txt") -> Chunk:
        return Chunk(id=cid, source=source, text="x", start=start, end=end)

    passage = chunk("p", 100, 200)
    others = [
        chunk("before", 0, 100),  # ends where the passage starts: no shared character
        chunk("left", 40, 140),  # shares RAG_CHUNK_OVERLAP characters with it
        chunk("right", 160, 260),
        chunk("inside", 120, 180),
        chunk("after", 200, 300),
        chunk("elsewhere", 100, 200, source="b.txt"),  # the same span of another file
    ]
    assert overlapping(passage, [passage, *others]) == {"p", "left", "right", "inside"}


# --- the deletion retriever on a real index ---
@pytest.fixture()
def indexed(settings: Settings, store: Store) -> list[Chunk]:
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    return sorted(store.all_chunks(), key=lambda c: c.start)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_the_deletion_retriever_never_returns_a_hidden_span(
    settings: Settings, store: Store, embedder: Embedder, indexed: list[Chunk], mode: str
) -> None:
    retriever = DeletionRetriever(store=HidingStore(store), embedder=embedder, k=4, fetch_k=20, mode=mode)
    for chunk in indexed:
        hidden = overlapping(chunk, indexed)
        # the passage's own text finds it first when nothing is hidden ...
        assert retriever.search(chunk.text, 4)[0].chunk.id == chunk.id
        retriever.hide(hidden)
        found = retriever.search(chunk.text, len(indexed))
        # ... and never while it is hidden, nor anything overlapping its span; the rest is all there
        assert not {s.chunk.id for s in found} & hidden
        assert all(s.chunk.end <= chunk.start or s.chunk.start >= chunk.end for s in found)
        if mode != "bm25":  # BM25 only returns chunks sharing a word with the query
            assert len(found) == len(indexed) - len(hidden)
        retriever.hide([])


def test_the_chain_answers_from_what_is_left(
    settings: Settings, store: Store, embedder: Embedder, indexed: list[Chunk]
) -> None:
    retriever = DeletionRetriever(store=HidingStore(store), embedder=embedder, k=4, fetch_k=20)
    engine = QAEngine(retriever, build_generator(settings), answer_policy(settings))
    source = next(c for c in indexed if "fled to Iraq" in c.text)
    assert "Iraq" in engine.ask(QUESTION).answer
    retriever.hide(overlapping(source, indexed))
    answer = engine.ask(QUESTION)
    assert "Iraq" not in answer.answer
    shown = {c.chunk_id for c in answer.citations + answer.nearest}
    assert shown and not shown & overlapping(source, indexed)
    # the subject check still sees the whole corpus: the subject stays, only the fact is gone
    assert engine.unknown_subject(QUESTION) == []


# --- a stored calibration: applied, shown, flagged ---
def _empty_halves() -> dict[str, Rates]:
    return {"fit": rates([], 0.1, 0.2), "held_out": rates([], 0.1, 0.2)}


def stored(settings: Settings, store: Store, **fields: object) -> Calibration:
    empty = rates([], 0.1, 0.2)
    calibration = Calibration(
        collection=store.name,
        llm=settings.llm,
        model=model_name(settings),
        target=0.05,
        decline_threshold=0.03,
        min_score=0.99,
        target_met=True,
        note="hand-made",
        fit=empty,
        held_out=empty,
        before=DefaultRates(decline_threshold=0.07, min_score=0.2, fit=empty, held_out=empty),
        passages=2,
        index_version=store.version(),
        created="2026-11-27T10:00:00+00:00",
    ).model_copy(update=fields)
    calibration_path(settings).write_text(calibration.model_dump_json())
    return calibration


def test_engines_use_a_stored_calibration_unless_a_threshold_is_set(
    settings: Settings, store: Store, indexed: list[Chunk]
) -> None:
    assert not build_engine(settings, store).ask(QUESTION).abstained
    stored(settings, store)  # min score 0.99: no passage is that close
    answer = build_engine(settings, store).ask(QUESTION)
    assert answer.abstained and answer.abstain_reason == "no_relevant_passage"
    assert apply_calibration(settings).decline_threshold == 0.03
    # explicit settings win (here passed in; RAG_MIN_SCORE in the environment counts the same)
    explicit = settings.model_copy(update={"min_score": 0.2})
    assert "min_score" in explicit.model_fields_set and "decline_threshold" not in explicit.model_fields_set
    assert not build_engine(explicit, store).ask(QUESTION).abstained
    assert apply_calibration(explicit).decline_threshold == 0.03  # the other one still applies
    # made for another generator: not used
    stored(settings, store, llm="local", model="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert not build_engine(settings, store).ask(QUESTION).abstained
    # an unreadable file is ignored, never an error on the question path
    calibration_path(settings).write_text("{not json")
    assert apply_calibration(settings) == settings


def test_a_calibrated_judge_threshold_applies_and_an_older_calibration_leaves_it(
    settings: Settings, store: Store, indexed: list[Chunk]
) -> None:
    stored(settings, store, judge_threshold=0.8)
    assert apply_calibration(settings).judge_threshold == 0.8
    assert ", judge threshold 0.8 for target" in calibration_note(settings, store)
    explicit = settings.model_copy(update={"judge_threshold": 0.0})  # RAG_JUDGE_THRESHOLD=0: the judge is off
    assert apply_calibration(explicit).judge_threshold == 0.0
    stored(settings, store)  # made before the judge was calibrated: no judge threshold stored
    assert apply_calibration(settings).judge_threshold == settings.judge_threshold == 0.5
    assert "judge" not in calibration_note(settings, store)


def test_a_running_service_applies_a_calibration_stored_since_from_the_next_question(
    settings: Settings, store: Store, indexed: list[Chunk]
) -> None:
    service = RagService(settings)
    engine = service.engine()
    assert engine.policy == answer_policy(settings) and not engine.ask(QUESTION).abstained
    stored(settings, store)  # as `rag calibrate` run beside the server would: min score 0.99
    again = service.engine()
    assert again is engine and (again.policy.min_score, again.policy.decline_threshold) == (0.99, 0.03)
    assert again.ask(QUESTION).abstain_reason == "no_relevant_passage"


def test_a_calibration_of_an_earlier_index_is_used_but_flagged_stale(
    settings: Settings, store: Store, indexed: list[Chunk]
) -> None:
    stored(settings, store)
    found = load_calibration(settings, store)
    assert found is not None and not found.stale
    assert calibration_note(settings, store).startswith("Calibrated for extractive: decline threshold 0.03, min")
    (settings.corpus_dir / "more.txt").write_text("The harbour museum opened in 1998 after a decade of planning.")
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    found = load_calibration(settings, store)
    assert found is not None and found.stale
    assert calibration_note(settings, store).endswith("stale: the documents changed since")
    assert apply_calibration(settings).min_score == 0.99  # still used


def test_cli_show_and_refusals(settings: Settings, store: Store, indexed: list[Chunk]) -> None:
    missing = rag(settings, "calibrate", "--show", "--json")
    assert "no calibration stored for 'corpus'" in one_line_error(missing)
    assert "error" in json.loads(missing.stdout)
    assert "cannot write questions" in one_line_error(rag(settings, "calibrate"))
    assert "--target" in rag(settings, "calibrate", "--target", "1.5").stderr  # a share: 0..1
    empty = {"RAG_LLM": "local", "RAG_DATA_DIR": str(settings.data_dir.parent / "empty")}  # fails before any model
    assert "run 'rag ingest'" in one_line_error(rag(settings, "calibrate", env=empty))
    other = Tradeoff(
        target=0.1, decline_threshold=0.05, min_score=0.2, judge_threshold=0.8, target_met=True, **_empty_halves()
    )
    made = stored(settings, store, tradeoffs=[other])
    shown = rag(settings, "calibrate", "--show", "--json")
    assert shown.returncode == 0, shown.stderr
    assert Calibration.model_validate_json(shown.stdout) == made
    text = rag(settings, "calibrate", "--show").stdout
    assert "decline threshold 0.03, min score 0.99" in text and "held out" in text
    assert "at most 10%: decline 0.05, min score 0.2, judge 0.8 -> 0% / 0%" in text


@pytest.mark.heavy
def test_api_returns_the_stored_calibration_or_404(tmp_path: Path) -> None:
    with serve(tmp_path, {"RAG_LLM": "extractive"}, ui=False) as server, server.client() as client:
        assert client.post("/api/ask", json={"question": QUESTION}).json()["abstained"] is False
        none = client.get("/api/calibration")
        assert none.status_code == 404 and "rag calibrate" in none.json()["detail"]
        settings = Settings(corpus_dir=server.corpus, data_dir=tmp_path / "index", llm="extractive", _env_file=None)  # type: ignore[call-arg]
        made = stored(settings, build_store(settings))
        got = client.get("/api/calibration")
        assert got.status_code == 200 and Calibration.model_validate(got.json()) == made
        # the running server uses it from the next question on (min score 0.99: nothing is that close)
        answer = client.post("/api/ask", json={"question": "Where did Bashar al-Assad fly first?"}).json()
        assert answer["abstained"] and answer["abstain_reason"] == "no_relevant_passage"
        stored(settings, build_store(settings), index_version="an-earlier-one")
        assert client.get("/api/calibration").json()["stale"] is True


# --- end to end, with the local LLM ---
@pytest.mark.llm
def test_calibrate_end_to_end_with_the_local_llm(settings: Settings) -> None:
    # One thread: on a CPU shared with other work, llama.cpp's second thread mostly waits at barriers
    # (measured here: a calibration of 2 passages took 82 s with one thread, 348 s with two).
    env = {"RAG_LLM": "local", "RAG_LOG_LEVEL": "INFO", "RAG_LLM_THREADS": "1"}
    assert rag(settings, "ingest").returncode == 0
    t0 = time.monotonic()
    proc = rag(settings, "calibrate", "--passages", "2", "--json", env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    out = Calibration.model_validate_json(proc.stdout)
    first = time.monotonic() - t0
    # stored beside the index, as printed
    path = settings.data_dir / "calibration-corpus.json"
    assert Calibration.model_validate_json(path.read_text()) == out
    assert out.llm == "local" and out.passages == 2 and not out.stale and out.index_version
    # one passage each side: its answerable question and its deletion twin
    assert (out.fit.answerable, out.fit.unanswerable) == (1, 1)
    assert (out.held_out.answerable, out.held_out.unanswerable) == (1, 1)
    assert 0 <= out.held_out.answered_unanswerable <= 1 and 0 <= out.held_out.answered_answerable <= 1
    assert out.decline_threshold in (0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
    assert out.note
    cache_file = settings.data_dir / "calibration-corpus.cache.json"
    cache = json.loads(cache_file.read_text())
    assert len(cache["questions"]) == 2 and len(cache["signals"]) == 4
    # every question that reached the generator carries the local model's decline probability
    generated = [s for s in cache["signals"].values() if s["abstain_reason"] not in PRE_GENERATION]
    assert all(s["decline_prob"] is not None for s in generated)
    # and every answer that stood was judged, so the judge's threshold was chosen too
    assert all(s["judge_prob"] is not None for s in cache["signals"].values() if not s["abstained"])
    assert out.judge_threshold in JUDGE_GRID

    # another target re-uses every question and answer: nothing is asked again, no model is loaded
    t0 = time.monotonic()
    again = rag(settings, "calibrate", "--passages", "2", "--target", "1", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(cache_file.read_text()) == cache
    assert time.monotonic() - t0 < first / 2
    assert Calibration.model_validate_json(again.stdout).target == 1.0

    # `rag ask` uses the stored thresholds (the last calibration's)
    stored_now = Calibration.model_validate_json(path.read_text())
    asked = rag(settings, "ask", QUESTION, "--json", env=env)
    assert asked.returncode == 0, asked.stderr
    assert f"decline threshold {stored_now.decline_threshold:g}, min score {stored_now.min_score:g}" in asked.stderr
    assert set(json.loads(asked.stdout)) >= {"answer", "abstained", "citations"}
