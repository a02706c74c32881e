from rag.citations import is_abstention, markers, resolve
from rag.schema import Chunk, ScoredChunk
from rag.verify import support


def passages(*texts: str) -> list[ScoredChunk]:
    return [
        ScoredChunk(
            chunk=Chunk(id=f"id{i}", source="doc.txt", text=t, start=10 * i, end=10 * i + len(t)),
            score=0.5,
        )
        for i, t in enumerate(texts)
    ]


def test_markers_in_order_of_first_appearance() -> None:
    assert markers("A [2] and B [1, 3] and again [2].") == [2, 1, 3]
    assert markers("As said in [Passage 4].") == [4]
    assert markers("No markers here.") == []


def test_resolve_drops_invalid_markers_and_renumbers() -> None:
    ps = passages("alpha", "beta", "gamma")
    text, cites = resolve("Beta is true [2] and so is gamma [3][9].", ps)
    assert text == "Beta is true [1] and so is gamma [2]."
    assert [(c.n, c.chunk_id, c.text) for c in cites] == [(1, "id1", "beta"), (2, "id2", "gamma")]
    assert cites[0].start == 10 and cites[0].end == 14


def test_resolve_with_only_invalid_markers_gives_no_citation() -> None:
    text, cites = resolve("Something [0] [7].", passages("alpha"))
    assert (text, cites) == ("Something.", [])


def test_abstention_phrases() -> None:
    for text in [
        "The documents do not say.",
        "The passages don't mention who won.",
        "This information is not provided in the passages.",
        "There is no information about that.",
    ]:
        assert is_abstention(text), text
    assert not is_abstention("Maher al-Assad fled to Iraq. [2]")
    assert not is_abstention("No, the attempts were unsuccessful [1].")


def test_support_flags_facts_absent_from_the_evidence() -> None:
    q = "Who became president after al-Assad?"
    evidence = ["The sudden departure of Mr. al-Assad ended his family's 50-year rule over Syria."]
    assert support("Ahmed al-Sharaa became president [1].", q, evidence) < 0.5
    assert (
        support(
            "Maher al-Assad fled to Iraq [1].", "Where did Maher al-Assad flee?", ["Maher al-Assad also fled to Iraq."]
        )
        == 1.0
    )
    assert support("Al-Assad [1].", q, evidence) == 0.0  # nothing new beyond the question


def test_support_ignores_words_that_only_frame_the_answer_in_the_questions_terms() -> None:
    evidence = ["The treaty was signed in Paris in 1560 by both kings."]
    assert support("It took place in Paris [1].", "Where did the signing take place?", evidence) == 1.0
    assert support("It was called the Paris treaty [1].", "What was it named?", evidence) == 1.0
    # framing words do not hide a fact the evidence lacks
    assert support("It took place in London [1].", "Where did the signing take place?", evidence) == 0.0


def test_a_marker_copied_from_a_papers_reference_list_and_never_closed_is_dropped() -> None:
    # The model copied "[3, [12] [13]" from a paper (covidqa-long dev split): no stray "[3," in the answer.
    clean, cites = resolve("The fatality rate for MERS was 35-50% [3, [1] .", passages("MERS: 35-50% died."))
    assert clean == "The fatality rate for MERS was 35-50% [1]."
    assert [c.n for c in cites] == [1]
    clean, cites = resolve("The rate was 35-50% [3, [12] [13] .", passages("MERS: 35-50% died."))
    assert (clean, cites) == ("The rate was 35-50%.", [])
