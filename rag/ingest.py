"""Index documents: read, chunk, embed only what changed, upsert with stable ids, prune what is gone."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from rag.chunking import chunk_text, make_splitter, sha256
from rag.config import Settings
from rag.embeddings import Embedder
from rag.loaders import Unreadable, load_text
from rag.schema import Chunk, FileResult, IngestReport
from rag.store import FileRecord, Store

log = logging.getLogger(__name__)

# Chunks embedded and written together, across files, so many small files still embed at full speed and
# Chroma is called less often. Writes are not overlapped with embedding: on two cores a concurrent write
# slows the embedder more than it saves, in a thread or a process (README, "Speed and scale").
_BATCH = 1024


def source_name(path: Path, settings: Settings) -> str:
    """How a file is named in the index: relative to the corpus folder when inside it, else absolute.

    Independent of the working directory, so ids stay stable wherever ``rag`` is run from.
    """
    path = path.resolve()
    try:
        return path.relative_to(settings.corpus_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def source_path(source: str, settings: Settings) -> Path:
    p = Path(source)
    return p if p.is_absolute() else (settings.corpus_dir / p).resolve()


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


@dataclass
class _Pending:
    result: FileResult
    new: list[Chunk]
    kept: list[Chunk]
    stale: list[str]
    record: FileRecord | None = None


class Ingestor:
    def __init__(self, settings: Settings, store: Store, embedder: Embedder) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
        # Files chunked with other settings are re-chunked: their content hash alone does not tell.
        self.chunker = f"recursive-{settings.chunk_size}-{settings.chunk_overlap}"

    def run(self, paths: Iterable[Path], progress: bool | None = None) -> IngestReport:
        t0 = time.perf_counter()
        files, roots = discover(paths)
        known = self.store.file_records()
        report = IngestReport()
        seen: set[str] = set()
        batch: list[_Pending] = []
        changed = False

        bar = tqdm(files, desc="ingest", unit="file", disable=None if progress is None else not progress)
        for path in bar:
            source = source_name(path, self.settings)
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

        for source in known:
            path = source_path(source, self.settings)
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

    def _prepare(self, path: Path, source: str, record: FileRecord | None) -> _Pending:
        try:
            size = path.stat().st_size
            if size > self.settings.max_file_mb * 1024 * 1024:
                raise Unreadable(f"file larger than {self.settings.max_file_mb:g} MB")
            data = path.read_bytes()
            file_hash = sha256(data)
            if record and record.complete and record.file_hash == file_hash and record.chunker == self.chunker:
                return _Pending(FileResult(source=source, status="unchanged"), [], [], [])
            chunks = chunk_text(load_text(path, data), source, self.splitter)
        except (Unreadable, OSError) as exc:
            return _Pending(FileResult(source=source, status="skipped", reason=str(exc)), [], [], [])
        # A file without a record has no chunks: every write of chunks is preceded by a pending record.
        old = self.store.chunk_ids(source) if record else set()
        new = [c for c in chunks if c.id not in old]
        kept = [c for c in chunks if c.id in old]
        stale = sorted(old - {c.id for c in chunks})
        status = "updated" if record else "added"
        result = FileResult(source=source, status=status, chunks_added=len(new), chunks_removed=len(stale))
        return _Pending(result, new, kept, stale, FileRecord(source, file_hash, self.chunker, len(chunks)))

    def _flush(self, batch: list[_Pending], report: IngestReport) -> None:
        new = [c for p in batch for c in p.new]
        embeddings = self.embedder.embed([c.text for c in new])
        # Pending records first, full ones last: if the process dies in between, the next run redoes these
        # files, whatever state their chunks were left in.
        self.store.mark_pending([p.result.source for p in batch])
        self.store.add(new, embeddings)
        self.store.update_spans([c for p in batch for c in p.kept])
        self.store.delete([i for p in batch for i in p.stale])
        self.store.record_files([p.record for p in batch if p.record])
        for p in batch:
            report.files.append(p.result)
            report.chunks_added += p.result.chunks_added
            report.chunks_removed += p.result.chunks_removed

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


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)
