import textwrap

from rag.chunking import chunk_text, make_splitter, sentence_spans
from tests.conftest import ARTICLE


def test_chunks_cover_the_text_with_exact_spans_and_overlap() -> None:
    text = ARTICLE.read_text()
    chunks = chunk_text(text, "a.txt", make_splitter(300, 60))
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 300
    # every character of the text that is not whitespace lies in some chunk
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_chunks_end_at_sentence_boundaries() -> None:
    text = ARTICLE.read_text()
    chunks = chunk_text(text, "a.txt", make_splitter(300, 60))
    assert sum(c.text.rstrip().endswith((".", "!", "?")) for c in chunks) >= 0.9 * len(chunks)


def test_ids_are_stable_and_depend_on_source_and_content() -> None:
    text = "First sentence here. " * 30 + "\n\nA different paragraph that ends here."
    splitter = make_splitter(200, 40)
    a = chunk_text(text, "a.txt", splitter)
    assert [c.id for c in a] == [c.id for c in chunk_text(text, "a.txt", splitter)]
    assert len({c.id for c in a}) == len(a)  # repeated passages still get distinct ids
    assert not {c.id for c in a} & {c.id for c in chunk_text(text, "b.txt", splitter)}


def test_sentences_run_over_wrapped_lines_but_end_at_breaks_and_paragraphs() -> None:
    text = (
        "The vaccine was tested on 4,000 volunteers in three\ncountries over two years.\n"
        "Results\nIt worked in most of\nthem.\n\nnext paragraph starts lowercase."
    )
    sentences = [text[a:b] for a, b in sentence_spans(text)]
    assert sentences == [
        "The vaccine was tested on 4,000 volunteers in three\ncountries over two years.",
        "Results",
        "It worked in most of\nthem.",
        "next paragraph starts lowercase.",
    ]


def test_hard_wrapped_paragraphs_are_chunked_at_sentence_ends() -> None:
    # One long paragraph wrapped at 40 columns, as PDF text comes: no chunk may end inside a sentence.
    sentence = "The trial enrolled volunteers in three countries and followed them for two years."
    text = textwrap.fill(" ".join([sentence] * 12), 40)
    chunks = chunk_text(text, "a.pdf", make_splitter(300, 60))
    assert len(chunks) > 3
    assert all(c.text.endswith("years.") for c in chunks[:-1]), [c.text[-20:] for c in chunks]
