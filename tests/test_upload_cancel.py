"""Uploads: a cancelled one leaves the corpus folder and the index as they were, and a file is read once
(real index, embedder and PDF reader)."""

from __future__ import annotations

import threading

from rag.chunking import sha256
from rag.config import Settings
from rag.factory import build_ingestor
from rag.loaders import load_document
from rag.store import Store
from rag.uploads import Documents
from tests.pdfs import pdf
from tests.test_viewer import body_page, report_pdf


def test_a_replacement_cancelled_while_indexed_leaves_the_old_document(settings: Settings, store: Store) -> None:
    docs = Documents(settings, store)
    old = report_pdf()
    assert docs.add("report.pdf", old).status == "added"
    record, chunks = store.file_records()["report.pdf"], store.chunk_ids("report.pdf")

    new = pdf([body_page([f"Page {i}: the harbour dues were doubled in 1950."]) for i in range(1, 4)])
    cancel = threading.Event()
    seen: list[tuple[str, int, int]] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))
        if stage == "indexing":
            cancel.set()  # the run stops before its next page

    result = docs.add("report.pdf", new, progress=progress, cancel=cancel)
    assert (result.status, result.reason) == ("skipped", "cancelled")
    assert seen[:3] == [("reading", 1, 3), ("reading", 2, 3), ("reading", 3, 3)]
    assert [(stage, done) for stage, done, _ in seen[3:]] == [("indexing", 0)]  # before the first batch
    assert (settings.corpus_dir / "report.pdf").read_bytes() == old
    assert store.file_records()["report.pdf"] == record and store.chunk_ids("report.pdf") == chunks


def test_a_new_file_cancelled_while_read_is_never_written(settings: Settings, store: Store) -> None:
    docs = Documents(settings, store)
    cancel = threading.Event()

    def progress(stage: str, done: int, total: int) -> None:
        cancel.set()

    result = docs.add("report.pdf", report_pdf(), progress=progress, cancel=cancel)
    assert (result.status, result.reason) == ("skipped", "cancelled")
    assert not (settings.corpus_dir / "report.pdf").exists()
    assert "report.pdf" not in store.file_records()


def test_a_document_read_before_is_not_read_again(settings: Settings, store: Store) -> None:
    # An upload is read to check it before it is written; reading it again to index it doubled the time
    # of every upload (of a scanned PDF: OCR, seconds a page, twice).
    path = settings.corpus_dir / "report.pdf"
    data = report_pdf()
    path.write_bytes(data)
    pages: list[int] = []
    ingestor = build_ingestor(settings, store, on_page=lambda _source, done, _total: pages.append(done))
    document = load_document(path, data)
    report = ingestor.run([path], progress=False, read={sha256(data): document})
    assert report.files[0].status == "added" and report.files[0].chunks_added > 0
    assert pages == []  # not read again
    assert "lighthouse" in " ".join(c.text for c in store.all_chunks())

    # Other bytes under the same name are read: what was read before is only used for its own bytes.
    path.write_bytes(pdf([body_page(["The harbour dues were doubled in 1950."])]))
    report = ingestor.run([path], progress=False, read={sha256(data): document})
    assert report.files[0].status == "updated" and pages == [1]
