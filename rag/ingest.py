"""Index documents: read, chunk, embed only what changed, upsert with stable ids, prune what is gone."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rag.chunking import CHUNKER_VERSION, chunk_text, make_splitter, sha256
from rag.config import megabytes
from rag.embeddings import Embedder
from rag.errors import StoreUnavailable
from rag.loaders import Document, Unreadable, format_version, load_document
from rag.schema import Chunk, FileResult, IngestReport
from rag.store import FileRecord, Store

log = logging.getLogger(__name__)

# Chunks embedded and written together, across files, so many small files still embed at full speed and
# Chroma is called less often; a big file is embedded and written this many chunks at a time. Writes are
# not overlapped with embedding: on two cores a concurrent write slows the embedder more than it saves,
# in a thread or a process (README, "Speed and scale").
_BATCH = 1024
# Files with at least this many pages get a bar of their own (pages read / pages) on a terminal.
_PAGE_BAR_MIN = 10
_ODD_BYTE = re.compile(r"\\x([89a-f][0-9a-f])")


def source_name(path: Path, corpus_dir: Path) -> str:
    """How a file is named in the index: relative to the corpus folder when inside it, else absolute.

    Independent of the working directory, so ids stay stable wherever ``rag`` is run from.
    """
    path = path.resolve()
    try:
        name = path.relative_to(corpus_dir.resolve()).as_posix()
    except ValueError:
        name = path.as_posix()
    # A name that is not UTF-8 (bytes from another system) has lone surrogates here, which no id, JSON or
    # Chroma string takes: its odd bytes are spelled out instead ("caf\\xe9.txt"), distinct and stable.
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def source_path(source: str, corpus_dir: Path) -> Path:
    # The reverse of ``source_name``'s spelling of bytes that are not UTF-8 (only bytes >= 0x80 are spelled).
    p = Path(_ODD_BYTE.sub(lambda m: chr(0xDC00 + int(m[1], 16)), source))
    return p if p.is_absolute() else (corpus_dir / p).resolve()


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    """Files to ingest (sorted, hidden ones left out) and the folders whose vanished files get pruned."""
    files: list[Path] = []
    roots: list[Path] = []
    for p in paths:
        if p.is_dir():
            roots.append(p.resolve())
            files.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    return files, roots


# Told of each page read of a paged file: (source, pages done, pages).
PageCallback = Callable[[str, int, int], None]
# Told before each slice of new passages is embedded and written: (passages written, passages to write).
WriteCallback = Callable[[int, int], None]


class IngestCancelled(Exception):
    """Raised inside a run when its ``cancel`` event is set; the run stops with the index consistent."""


@dataclass
class _Pending:
    result: FileResult
    new: list[Chunk]
    kept: list[Chunk]
    stale: list[str]
    record: FileRecord | None = None
    previous: FileRecord | None = None  # the file's record before this run, restored if the run is cancelled


class Ingestor:
    """Indexes files into a store. One file's failure never stops the others: the file is skipped with
    a one-line reason (``failed`` lists the files that failed for another reason than being unreadable).
    Only an unavailable store stops a run, with ``StoreUnavailable``; its pending records are redone by
    the next run.

    Setting ``cancel`` (from another thread, or a signal handler) stops a run at the next page or batch:
    files already written stay indexed, the write in progress is undone, the rest is left as it was, and
    the report says ``cancelled``. ``on_page`` is told of each page read of a paged file.

    Files are cut into chunks of about ``chunk_size`` characters sharing ``chunk_overlap``; files over
    ``max_file_mb`` are skipped; files inside ``corpus_dir`` are named relative to it (``source_name``).
    ``rag.factory.build_ingestor`` passes the configured values."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        chunk_size: int,
        chunk_overlap: int,
        max_file_mb: float,
        corpus_dir: Path,
        on_page: PageCallback | None = None,
        on_write: WriteCallback | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.corpus_dir = corpus_dir
        self.max_file_mb = max_file_mb
        self.max_file_bytes = megabytes(max_file_mb)
        self.splitter = make_splitter(chunk_size, chunk_overlap)
        # Files chunked with other settings are re-chunked: their content hash alone does not tell.
        self.chunker = f"recursive{CHUNKER_VERSION}-{chunk_size}-{chunk_overlap}"
        self.failed: list[FileResult] = []
        self.cancel = threading.Event()
        self.on_page = on_page
        self.on_write = on_write
        self._read: Mapping[str, Document] = {}
        self._bar: Any = None
        self._page_bar: Any = None

    def run(
        self, paths: Iterable[Path], progress: bool | None = None, read: Mapping[str, Document] | None = None
    ) -> IngestReport:
        """Index ``paths`` (files or folders). ``read`` holds documents already read, by the sha256 of
        their bytes: a file with those bytes is not read again (an upload is read once to check it, and
        reading a scanned PDF is OCR, seconds a page)."""
        t0 = time.perf_counter()
        self._read = read or {}
        files, roots = discover(paths)
        known = self.store.file_records()
        report = IngestReport()
        self.failed = []
        self.cancel.clear()
        seen: set[str] = set()

        bar = self._bar = tqdm(files, desc="ingest", unit="file", disable=None if progress is None else not progress)
        try:
            changed = self._ingest(bar, known, report, seen)
        except IngestCancelled:
            report.cancelled = True
            changed = True  # files written before the cancel are new to readers
            log.warning("ingest cancelled: %d files done; the next run does the rest", len(report.files))
        finally:
            self._close_page_bar()
            bar.close()
        if not report.cancelled:
            for source in known:
                path = source_path(source, self.corpus_dir)
                if source not in seen and _under(path, roots) and not path.exists():
                    self._remove(source, report)
                    changed = True
        if changed:
            self.store.bump_version()
        report.chunks_total = self.store.count()
        report.seconds = round(time.perf_counter() - t0, 3)
        log.info(
            "ingest done",
            extra={"added": report.chunks_added, "removed": report.chunks_removed, "total": report.chunks_total},
        )
        return report

    def _ingest(self, bar: Any, known: dict[str, FileRecord], report: IngestReport, seen: set[str]) -> bool:
        """Read, chunk and write every file; True when the index changed."""
        batch: list[_Pending] = []
        changed = False
        for path in bar:
            if self.cancel.is_set():
                raise IngestCancelled  # the files read but not written yet are left as they were
            source = source_name(path, self.corpus_dir)
            seen.add(source)
            pending = self._prepare(path, source, known.get(source))
            if pending.result.status in {"skipped", "unchanged"}:
                report.files.append(pending.result)
                if pending.result.status == "skipped":
                    log.warning("skipped %s: %s", source, pending.result.reason)
                    if source in known:  # a file that became unreadable must not keep stale answers
                        self._remove(source, report)
                        changed = True
                continue
            batch.append(pending)
            if sum(len(p.new) for p in batch) >= _BATCH:
                self._flush(batch, report)
                changed = True
                batch = []
            bar.set_postfix(chunks=report.chunks_added + sum(len(p.new) for p in batch))
        if batch:
            self._flush(batch, report)
            changed = True
        return changed

    def _prepare(self, path: Path, source: str, record: FileRecord | None) -> _Pending:
        try:
            size = path.stat().st_size
            if size > self.max_file_bytes:
                raise Unreadable(f"file larger than {self.max_file_mb:g} MB")
            data = path.read_bytes()
            file_hash = sha256(data)
            # Files of types whose loader changed are read again (plain text never is).
            chunker = f"{self.chunker}+{version}" if (version := format_version(path)) else self.chunker
            if record and record.complete and record.file_hash == file_hash and record.chunker == chunker:
                return _Pending(FileResult(source=source, status="unchanged"), [], [], [])
            doc = self._read.get(file_hash) or load_document(path, data, self._page_progress(source))
            chunks = chunk_text(doc.text, source, self.splitter, doc.pages, doc.by_page)
        except IngestCancelled:
            raise
        except (Unreadable, OSError) as exc:
            return _Pending(FileResult(source=source, status="skipped", reason=str(exc)), [], [], [])
        except Exception as exc:  # a parser or splitter bug on one odd file: skip it, go on with the rest
            log.debug("reading %s failed", source, exc_info=True)
            result = FileResult(source=source, status="skipped", reason=f"could not be read: {_one_line(exc)}")
            self.failed.append(result)
            return _Pending(result, [], [], [])
        # A file without a record has no chunks: every write of chunks is preceded by a pending record.
        old = self.store.chunk_ids(source) if record else set()
        new = [c for c in chunks if c.id not in old]
        kept = [c for c in chunks if c.id in old]
        stale = sorted(old - {c.id for c in chunks})
        status = "updated" if record else "added"
        result = FileResult(source=source, status=status, chunks_added=len(new), chunks_removed=len(stale))
        return _Pending(result, new, kept, stale, FileRecord(source, file_hash, chunker, len(chunks)), record)

    def _page_progress(self, source: str) -> Callable[[int, int], None]:
        def step(done: int, total: int) -> None:
            if self.cancel.is_set():
                raise IngestCancelled  # a long file (OCR: a second a page) stops between pages
            if self.on_page is not None:
                self.on_page(source, done, total)
            if total >= _PAGE_BAR_MIN and self._bar is not None and not self._bar.disable:
                if self._page_bar is None:
                    self._page_bar = tqdm(total=total, desc=source[-30:], unit="page", leave=False, position=1)
                self._page_bar.update(done - self._page_bar.n)
                if done >= total:
                    self._close_page_bar()

        return step

    def _close_page_bar(self) -> None:
        if self._page_bar is not None:
            self._page_bar.close()
            self._page_bar = None

    def _flush(self, batch: list[_Pending], report: IngestReport) -> None:
        try:
            self._write(batch, report)
        except (StoreUnavailable, IngestCancelled):
            raise  # not the files' fault: the run stops, the next one redoes their pending records
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch[0], exc, report)
                return
            # Which file failed? Each one again on its own: the others are indexed, the culprit skipped.
            for p in batch:
                self._flush([p], report)
            return
        for p in batch:
            report.files.append(p.result)
            report.chunks_added += p.result.chunks_added
            report.chunks_removed += p.result.chunks_removed

    def _write(self, batch: list[_Pending], report: IngestReport) -> None:
        new = [c for p in batch for c in p.new]
        marked = False
        # A big file is embedded and written a slice at a time: memory stays flat and the bar moves.
        for i in range(0, len(new), _BATCH):
            if self.on_write is not None:
                self.on_write(i, len(new))
            if self.cancel.is_set():
                if marked:
                    self._undo(batch, new[:i])
                raise IngestCancelled
            part = new[i : i + _BATCH]
            embeddings = self.embedder.embed([c.text for c in part])
            if not marked:
                # Pending records first, full ones last: if the process dies in between, the next run
                # redoes these files, whatever state their chunks were left in.
                self.store.mark_pending([p.result.source for p in batch])
                marked = True
            self.store.add(part, embeddings)
            if self._bar is not None:
                self._bar.set_postfix(chunks=report.chunks_added + i + len(part))
        if not marked:
            self.store.mark_pending([p.result.source for p in batch])
        self.store.update_spans([c for p in batch for c in p.kept])
        self.store.delete([i for p in batch for i in p.stale])
        self.store.record_files([p.record for p in batch if p.record])

    def _undo(self, batch: list[_Pending], written: list[Chunk]) -> None:
        """Take back a cancelled write: its new chunks go and the files' records are what they were (their
        old chunks were not touched yet: spans, stale chunks and records change only after all are written)."""
        self.store.delete([c.id for c in written])
        self.store.record_files([p.previous for p in batch if p.previous])
        self.store.forget_files([p.result.source for p in batch if p.previous is None])

    def _fail(self, pending: _Pending, exc: Exception, report: IngestReport) -> None:
        """Skip a file whose indexing failed, and take out what of it was written: like an unreadable
        file, a skipped file has no chunks in the index (if even that fails, its pending record stays and
        the next run redoes it)."""
        source = pending.result.source
        log.debug("indexing %s failed", source, exc_info=True)
        result = FileResult(source=source, status="skipped", reason=f"could not be indexed: {_one_line(exc)}")
        log.warning("skipped %s: %s", source, result.reason)
        report.files.append(result)
        self.failed.append(result)
        try:
            self._remove(source, report)
        except StoreUnavailable:
            raise
        except Exception as cleanup:  # one line, like every file problem; the trace only at DEBUG
            log.warning("could not take %s out of the index (%s); the next run redoes it", source, _one_line(cleanup))
            log.debug("removing %s failed", source, exc_info=True)

    def remove(self, source: str) -> FileResult:
        """Drop one document's chunks from the index (the file itself is left alone)."""
        if source not in self.store.file_records():
            raise FileNotFoundError(f"no indexed document '{source}'")
        report = IngestReport()
        self._remove(source, report)
        self.store.bump_version()
        return report.files[0]

    def _remove(self, source: str, report: IngestReport) -> None:
        ids = sorted(self.store.chunk_ids(source))
        self.store.mark_pending([source])
        self.store.delete(ids)
        self.store.forget_files([source])
        report.chunks_removed += len(ids)
        if not any(f.source == source for f in report.files):
            report.files.append(FileResult(source=source, status="removed", chunks_removed=len(ids)))


def _one_line(exc: BaseException) -> str:
    first = (str(exc).splitlines() or [""])[0].strip()
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)
