"""Long ingestion: each page read is reported, and a cancel (Ctrl-C in the CLI) leaves the index consistent."""

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_ingestor, build_store
from rag.ingest import Ingestor
from tests.pdfs import merged, pdf, scanned_pdf, text_page

ARTICLE = "syria-assad-fall.txt"


def three_pages() -> bytes:
    return pdf([text_page([f"Page {n} tells of the harbour works of year {1900 + n}."]) for n in (1, 2, 3)])


def state(settings: Settings) -> tuple[dict, set[str]]:
    store = build_store(settings)
    return store.file_records(), {c.id for c in store.all_chunks()}


def test_each_page_read_is_reported(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "works.pdf").write_bytes(three_pages())
    seen: list[tuple[str, int, int]] = []
    build_ingestor(settings, on_page=lambda *a: seen.append(a)).run([corpus], progress=False)
    assert seen == [("works.pdf", 1, 3), ("works.pdf", 2, 3), ("works.pdf", 3, 3)]


def test_a_cancel_between_pages_leaves_the_index_as_it_was(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    build_ingestor(settings).run([corpus], progress=False)
    before = state(settings)
    article = corpus / ARTICLE
    article.write_text(article.read_text().replace("fled to Iraq", "fled to Jordan"))
    (corpus / "works.pdf").write_bytes(three_pages())

    def stop_on_page_two(source: str, done: int, total: int) -> None:
        if done == 2:
            ingestor.cancel.set()

    ingestor = build_ingestor(settings, on_page=stop_on_page_two)
    report = ingestor.run([corpus], progress=False)
    assert report.cancelled and report.chunks_added == 0
    assert state(settings) == before  # the edited article was read but not written: left as it was

    again = build_ingestor(settings).run([corpus], progress=False)
    assert not again.cancelled and {f.source: f.status for f in again.files} == {
        ARTICLE: "updated",
        "works.pdf": "added",
    }


class CancelAfterFirstSlice:
    """The real embedder; the run is cancelled while it embeds the first slice of a write (as Ctrl-C would)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self.ingestor: Ingestor | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        assert self.ingestor is not None
        self.ingestor.cancel.set()
        return self.embedder.embed(texts)


def test_a_cancel_during_a_write_is_undone(
    settings: Settings, embedder: Embedder, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_ingestor(settings).run([corpus], progress=False)
    before = state(settings)
    article = corpus / ARTICLE
    text = article.read_text()
    article.write_text(text.replace("al-Assad", "Al-Asad"))  # many passages change
    monkeypatch.setattr("rag.ingest._BATCH", 4)  # a write of several slices, as a big file has

    cancelling = CancelAfterFirstSlice(embedder)
    ingestor = cancelling.ingestor = Ingestor(
        build_store(settings),
        cancelling,  # type: ignore[arg-type]
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        max_file_mb=settings.max_file_mb,
        corpus_dir=settings.corpus_dir,
    )
    report = ingestor.run([corpus], progress=False)
    assert report.cancelled
    # The first slice was written, then taken back: the old version is whole, its record complete.
    assert state(settings) == before and before[0][ARTICLE].complete

    again = build_ingestor(settings).run([corpus], progress=False)
    assert again.count("updated") == 1 and again.chunks_added > 4
    stored = [c for c in build_store(settings).all_chunks()]
    assert all(article.read_text()[c.start : c.end] == c.text for c in stored)


def readable(fd: int, seconds: float) -> bool:
    """Whether ``fd`` has output; poll, not select: in a full run the process holds more than 1,024 file
    descriptors and select() refuses those."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


@pytest.mark.heavy
def test_ctrl_c_in_the_cli_shows_pages_and_stops_cleanly(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    """A user's terminal: the page bar of a long scanned PDF moves, Ctrl-C stops the run with exit code 130
    and a one-line message, and the index holds what it held before."""
    build_ingestor(settings).run([corpus], progress=False)
    before = state(settings)
    pages = [scanned_pdf([f"Page {n} of the logbook of the Grenen bird station."]) for n in range(12)]
    (corpus / "logbook.pdf").write_bytes(merged(*pages))
    env = {**os.environ, "RAG_CORPUS_DIR": str(corpus), "RAG_DATA_DIR": str(settings.data_dir)}
    main, child = pty.openpty()  # a terminal, so the progress bars show as they do for a user
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 100 columns wide
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest"], stdin=child, stdout=child, stderr=child, env=env, close_fds=True
    )
    os.close(child)
    out = b""
    try:
        deadline = time.monotonic() + 120
        while b"page" not in out.split(b"logbook.pdf", 1)[-1] or b"logbook.pdf" not in out:
            assert time.monotonic() < deadline and proc.poll() is None, out.decode(errors="replace")
            if readable(main, 0.5):
                out += os.read(main, 65536)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
        while readable(main, 0.2):
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            out += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    text = out.decode(errors="replace")
    assert code == 130, text
    assert "cancelling: stopping at the next page or batch" in text and "cancelled: " in text
    assert "Traceback" not in text
    assert state(settings) == before
