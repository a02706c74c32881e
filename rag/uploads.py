"""Documents written through the server: uploads, deletes, and the start-up check of the corpus folder.

Writes take turns through a gate of their own (one at a time, a bounded line behind it, 503 beyond),
and across processes sharing the corpus folder through ``corpus_lock``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from rag.chunking import sha256
from rag.config import Settings
from rag.errors import FileTooLarge, NotFound, RagError, UnreadableDocument, UnsupportedFile
from rag.factory import build_ingestor
from rag.ingest import IngestCancelled, source_path
from rag.loaders import SUPPORTED, Unreadable, load_document
from rag.queue import Gate, Ticket
from rag.schema import Chunk, DocumentInfo, FileResult
from rag.store import Store
from rag.writes import check_filename, corpus_lock, remove_leftovers, write_file

# Uploads and deletes that may wait for their turn (one runs at a time); more get 503 with Retry-After.
MAX_WAITING_WRITES = 16
# Told of an upload's progress: ("reading", pages done, pages) or ("indexing", passages written, passages).
UploadProgress = Callable[[str, int, int], None]

log = logging.getLogger(__name__)


class Documents:
    """The indexed documents of one store and the corpus folder they come from."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        # One at a time, a bounded line behind it (503 beyond), never a pile of blocked threads.
        self.writes = Gate(MAX_WAITING_WRITES, what="document writes")

    def list(self) -> list[DocumentInfo]:
        return self.store.documents() if self.store.exists() else []

    def passages(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        return {c.id: c for c in self.store.get(chunk_ids)}

    def check_upload(self, filename: str, size: int) -> str:
        """The checks an upload passes before it takes a place in the write queue (name, type, size):
        the name it is saved under, or a clear error."""
        name = check_filename(filename)
        if Path(name).suffix.lower() not in SUPPORTED:
            raise UnsupportedFile(
                f"unsupported file type '{Path(name).suffix or name}'; use one of {sorted(SUPPORTED)}"
            )
        if size > self.settings.max_file_bytes:
            raise FileTooLarge(f"the file has {size} bytes; the limit is {self.settings.max_file_mb:g} MB")
        return name

    def add(
        self,
        filename: str,
        data: bytes,
        ticket: Ticket | None = None,
        progress: UploadProgress | None = None,
        cancel: threading.Event | None = None,
    ) -> FileResult:
        """Save an uploaded file into the corpus folder and index it (waiting for its turn to write:
        ``ticket`` is a place in ``self.writes`` taken beforehand, else one is taken here).

        Everything is checked before the file is written, so a bad upload never replaces a good
        document of the same name. A crash between the file's move and the end of its indexing is
        repaired by ``reconcile`` at the next start. ``progress`` is told of each page read ("reading",
        done, pages) and, before each batch of passages is written, of the passages written ("indexing",
        done, passages); setting ``cancel`` stops at the next page or batch,
        leaving the folder and the index as they were (status "skipped", reason "cancelled").
        """
        name = self.check_upload(filename, len(data))
        cancel = cancel or threading.Event()

        def reading(done: int, total: int) -> None:
            if cancel.is_set():
                raise IngestCancelled
            if progress is not None:
                progress("reading", done, total)

        with ticket or self.writes.admit():
            try:
                document = load_document(Path(name), data, reading)  # in turn: parsing a large PDF is real work
            except Unreadable as exc:
                raise UnreadableDocument(f"{name}: {exc}") from exc
            except IngestCancelled:
                return FileResult(source=name, status="skipped", reason="cancelled")
            if cancel.is_set():
                return FileResult(source=name, status="skipped", reason="cancelled")
            corpus = self.settings.corpus_dir
            with corpus_lock(corpus):
                dest = corpus / name
                before = dest.read_bytes() if dest.is_file() else None
                write_file(dest, data)
                ingestor = build_ingestor(self.settings, self.store)
                if progress is not None:
                    ingestor.on_write = lambda done, total: progress("indexing", done, total)
                ingestor.cancel = cancel  # checked at each batch of the run
                report = ingestor.run([dest], progress=False, read={sha256(data): document})  # read once
                if report.cancelled:  # the index took the write back: the folder does the same
                    if before is None:
                        dest.unlink(missing_ok=True)
                    else:
                        write_file(dest, before)
                    return FileResult(source=name, status="skipped", reason="cancelled")
        return report.files[0]

    def delete(self, doc_id: str, ticket: Ticket | None = None) -> FileResult:
        """Remove a document from the index, and its file when it lives in the corpus folder."""
        with ticket or self.writes.admit(), corpus_lock(self.settings.corpus_dir):
            # Read under the lock: another process may have removed (or re-added) it meanwhile.
            source = next((d.source for d in self.list() if d.id == doc_id), None)
            if source is None:
                raise NotFound(f"no document with id '{doc_id}'")
            path = source_path(source, self.settings.corpus_dir)
            if self.settings.corpus_dir.resolve() in path.parents:
                # The file goes first: a crash before the index is updated leaves an indexed document
                # without its file, which the next start prunes (the other order would bring it back).
                path.unlink(missing_ok=True)
            try:
                return build_ingestor(self.settings, self.store).remove(source)
            except FileNotFoundError as exc:  # its record went between our read and the removal
                raise NotFound(f"no document with id '{doc_id}'") from exc

    def reconcile(self) -> None:
        """Make the index agree with the corpus folder after a crash (or changes made while stopped).

        A server killed during an upload leaves the new file on disk but not (or not fully) indexed,
        and maybe a temp file; killed during a delete, an indexed document without its file. An
        incremental ingest of the folder fixes all of these and embeds only what changed.
        """
        corpus = self.settings.corpus_dir
        try:
            if corpus.is_dir() and not os.access(corpus, os.W_OK):
                log.warning("the corpus folder %s is read-only: not checked against the index", corpus)
            elif corpus.is_dir():
                with self.writes.admit(), corpus_lock(corpus):
                    if leftovers := remove_leftovers(corpus):
                        log.warning("removed unfinished uploads", extra={"files": leftovers})
                    report = build_ingestor(self.settings, self.store).run([corpus], progress=False)
                changed = [f.source for f in report.files if f.status in {"added", "updated", "removed"}]
                if changed:
                    log.warning("corpus folder and index differed; index brought up to date", extra={"files": changed})
        except RagError as exc:  # e.g. a Chroma server that is down: the next start checks again
            log.error("checking the corpus folder against the index failed: %s", exc)
        except Exception:  # start-up work in the background: logged with its trace, the server goes on
            log.exception("checking the corpus folder against the index failed")
