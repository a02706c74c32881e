"""A cancelled upload leaves the corpus folder and the index as they were (real index and embedder)."""

from __future__ import annotations

import threading

from rag.config import Settings
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
    assert seen == [("reading", 1, 3), ("reading", 2, 3), ("reading", 3, 3), ("indexing", 1, 3)]
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
