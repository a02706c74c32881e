"""Pages: every passage of a PDF knows its page(s), exactly, through ingestion, the chain and the CLI."""

import json
from pathlib import Path

from rag.chunking import chunk_text, make_splitter
from rag.citations import where
from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_engine, build_ingestor, build_store
from rag.loaders import load_document
from rag.schema import Citation
from tests.pdfs import pdf, text_page
from tests.test_cli import rag

# Three pages, each with facts of its own, long enough for several passages a page.
FACTS = {
    1: "The harbour of Esbjerg was dug in 1868 to ship cattle to England.",
    2: "The lighthouse keeper Anna Holm logged 312 storms between 1901 and 1930.",
    3: "The ferry to the island of Fanoe leaves every twenty minutes in summer.",
}


def filler(page: int) -> list[str]:
    return [f"Line {i} of page {page} describes the coast, the dunes and the weather plainly." for i in range(12)]


def report_pdf() -> bytes:
    return pdf([text_page([*filler(n)[:6], FACTS[n], *filler(n)[6:]]) for n in (1, 2, 3)])


def run(settings: Settings, embedder: Embedder):  # type: ignore[no-untyped-def]
    return build_ingestor(settings).run([settings.corpus_dir], progress=False)


def test_pages_and_spans_of_a_pdf_are_exact() -> None:
    doc = load_document(Path("report.pdf"), report_pdf())
    assert [p.number for p in doc.pages] == [1, 2, 3]
    for page in doc.pages:
        assert FACTS[page.number] in doc.text[page.start :].split("\n\n")[0]
    chunks = chunk_text(doc.text, "report.pdf", make_splitter(350, 60), doc.pages)
    assert len(chunks) > 6
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        first = max(p.number for p in doc.pages if p.start <= c.start)
        last = max(p.number for p in doc.pages if p.start < c.end)
        assert (c.page, c.page_end) == (first, last if last > first else None)
    fact = next(c for c in chunks if FACTS[2] in c.text)
    assert fact.page == 2
    # A passage that runs over a page break names both pages.
    whole = chunk_text(doc.text, "report.pdf", make_splitter(8000, 0), doc.pages)
    assert [(c.page, c.page_end) for c in whole] == [(1, 3)]


def test_plain_text_chunks_have_no_pages() -> None:
    chunks = chunk_text("One line.\n\nAnother line.", "notes.txt", make_splitter(350, 60))
    assert all(c.page is None and c.page_end is None and not c.ocr for c in chunks)


def test_citation_labels() -> None:
    def cite(**fields: object) -> Citation:
        return Citation(n=1, source="report.pdf", chunk_id="x", text="t", start=0, end=1, score=0.5, **fields)

    assert where(cite()) == "report.pdf"
    assert where(cite(page=12)) == "report.pdf, p. 12"
    assert where(cite(page=12, page_end=13)) == "report.pdf, pp. 12-13"
    assert where(cite(page=4, ocr=True)) == "report.pdf, p. 4 (OCR)"


def test_answers_cite_the_page(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "report.pdf").write_bytes(report_pdf())
    run(settings, embedder)
    engine = build_engine(settings)
    for page, question in ((2, "How many storms did Anna Holm log?"), (3, "How often does the ferry to Fanoe leave?")):
        answer = engine.ask(question)
        assert not answer.abstained, answer
        cited = answer.citations[0]
        assert cited.source == "report.pdf" and cited.page == page and FACTS[page] in cited.text
        stored = load_document(Path("report.pdf"), report_pdf()).text
        assert stored[cited.start : cited.end] == cited.text


def test_an_index_without_pages_is_upgraded_without_embedding(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    """An index written before pages were tracked: its PDF passages get their pages on the next ingest,
    and none is embedded again (the text of a PDF, and so each passage's id, is what it was)."""
    (corpus / "report.pdf").write_bytes(report_pdf())
    run(settings, embedder)
    store = build_store(settings)
    ids = {c.id for c in store.all_chunks() if c.source == "report.pdf"}
    # Back to the earlier state: no page fields on the passages, a record from the earlier loader.
    old = [c for c in store.all_chunks() if c.source == "report.pdf"]
    store.collection.delete(ids=[c.id for c in old])
    vectors = embedder.embed([c.text for c in old])
    store.collection.add(
        ids=[c.id for c in old],
        embeddings=vectors,
        metadatas=[{"source": c.source, "start": c.start, "end": c.end, "text": c.text} for c in old],
    )
    record = store.file_records()["report.pdf"]
    store.record_files([record.__class__(record.source, record.file_hash, "recursive-350-60", record.n_chunks)])
    assert all(c.page is None for c in build_store(settings).all_chunks() if c.source == "report.pdf")

    report = run(settings, embedder)
    status = {f.source: f for f in report.files}
    assert status["report.pdf"].status == "updated" and report.chunks_added == report.chunks_removed == 0
    assert status["syria-assad-fall.txt"].status == "unchanged"  # plain text is not read again
    upgraded = [c for c in build_store(settings).all_chunks() if c.source == "report.pdf"]
    assert {c.id for c in upgraded} == ids and all(c.page in (1, 2, 3) for c in upgraded)
    assert run(settings, embedder).count("unchanged") == 2


def test_cli_shows_the_page(settings: Settings, corpus: Path) -> None:
    (corpus / "report.pdf").write_bytes(report_pdf())
    assert rag(settings, "ingest").returncode == 0
    text = rag(settings, "ask", "How many storms did Anna Holm log?")
    assert text.returncode == 0, text.stderr
    assert "[1] report.pdf, p. 2 (chars" in text.stdout
    answer = json.loads(rag(settings, "ask", "How often does the ferry to Fanoe leave?", "--json").stdout)
    assert answer["citations"][0]["page"] == 3 and answer["citations"][0]["page_end"] is None
