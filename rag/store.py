"""The Chroma index: one collection per corpus, our own embedder always, stable chunk ids."""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse

import httpx
import numpy as np

from rag.errors import IndexMismatch, IndexMissing, RagError, StoreUnavailable
from rag.schema import Chunk, DocumentInfo

log = logging.getLogger(__name__)

_VERSION_KEY = "rag_version"
_EMBEDDER_KEY = "rag_embedder"  # the model the vectors come from: another one's vectors do not compare

# A Chroma server that is down refuses connections at once, but a hung one (overloaded, stopped, half
# dead) accepts them and never answers: without a timeout every request, and /readyz, would hang with
# it. chromadb's HttpClient has no timeout at all and no setting for one (chromadb 1.5.9), so ours are
# set on its httpx session. Reads (queries, gets, counts) answer in milliseconds; a write of a full
# batch may take seconds on a big index, so writes get longer to answer.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 3.0
WRITE_TIMEOUT_S = 120.0
_WRITES = ("/add", "/upsert", "/update", "/delete")
# What a record write may hold when the client does not say (older Chroma servers).
_FALLBACK_BATCH = 1000

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class FileRecord:
    """What the index holds for one file, kept once per file beside the chunks (not on each chunk).

    A record without ``file_hash`` is pending: it is written before a file's chunks change and replaced by
    the full record after, so a run killed in between leaves a mark and the next run redoes that file.
    """

    source: str
    file_hash: str = ""
    chunker: str = ""
    n_chunks: int = 0

    @property
    def complete(self) -> bool:
        return bool(self.file_hash)


def connect(url: str | None, data_dir: Path) -> Any:
    """A Chroma client: of the server at ``url`` when there is one, else of the embedded index in ``data_dir``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if url:
        parsed = urlparse(url)
        if not parsed.hostname:
            raise RagError(f"RAG_CHROMA_URL is not a URL: {url!r}")
        ssl = parsed.scheme == "https"
        port = parsed.port or (443 if ssl else 8000)
        try:
            # The client's own first requests have no timeout yet: a hung server must fail here instead.
            httpx.get(f"{url.rstrip('/')}/api/v2/heartbeat", timeout=_read_timeout()).raise_for_status()
            client = chromadb.HttpClient(host=parsed.hostname, port=port, ssl=ssl, settings=chroma_settings)
        except httpx.TransportError as exc:
            raise unavailable(url, exc) from exc
        except Exception as exc:
            raise RagError(f"cannot reach the Chroma server at {url}: {exc}") from exc
        _set_timeouts(client)
        return client
    data_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(data_dir), settings=chroma_settings)


def _read_timeout() -> httpx.Timeout:
    return httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)


def _write_timeout(request: httpx.Request) -> None:
    """httpx request hook: record writes may answer later than reads (the timeout travels with the request)."""
    if request.method == "POST" and request.url.path.endswith(_WRITES):
        request.extensions["timeout"] = httpx.Timeout(WRITE_TIMEOUT_S, connect=CONNECT_TIMEOUT_S).as_dict()


def _set_timeouts(client: Any) -> None:
    session = getattr(getattr(client, "_server", None), "_session", None)
    if not isinstance(session, httpx.Client):  # a chromadb upgrade moved it: say so rather than hang
        log.warning("cannot set timeouts on the Chroma client: a hung Chroma server will hang requests")
        return
    session.timeout = _read_timeout()
    session.event_hooks["request"].append(_write_timeout)


def unavailable(url: str, exc: Exception) -> StoreUnavailable:
    """The one-line error for a Chroma server that cannot be reached or does not answer."""
    if isinstance(exc, httpx.TimeoutException):
        why = "no answer in time"
    else:
        why = (str(exc).splitlines() or [""])[0] or type(exc).__name__
    return StoreUnavailable(f"the Chroma server at {url} is unavailable ({why}); try again when it is back")


def _reachable(method: Callable[P, R]) -> Callable[P, R]:
    """A Chroma server that went away or hangs surfaces as ``StoreUnavailable``, not a transport error."""

    @wraps(method)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except httpx.TransportError as exc:
            store = args[0]  # a method's self
            url = store.url if isinstance(store, Store) else None
            raise unavailable(url or "", exc) from exc

    return guarded


class Store:
    """Chunks and their embeddings in a Chroma collection, and one record per file in a second one.

    Embeddings are always computed by us and passed in, and the collections have no embedding function,
    so Chroma's default embedder (which downloads a model) can never run. A chunk carries its source, span
    and text; what ingestion needs to know of a file lives in its record, so telling unchanged files apart
    reads a row per file instead of every chunk, and each chunk's write stays small (README, "Speed and
    scale").

    ``connect`` makes the Chroma client, called on first use (``rag.factory.build_store`` passes one
    for the configured index); ``url`` is the server's, named in the errors when it cannot be reached;
    ``embedder`` names the model the vectors come from, recorded in the collection and checked on opening it.
    """

    def __init__(self, name: str, connect: Callable[[], Any], url: str | None = None, embedder: str = "") -> None:
        self.name = name
        self.url = url
        self.embedder = embedder
        self._connect = connect
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._batch = 0
        self._collection: Any = None
        self._files: Any = None

    @property
    @_reachable
    def client(self) -> Any:
        """Connected on first use: a server process starts (and says it is not ready) while Chroma is down."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    @property
    @_reachable
    def batch(self) -> int:
        """The most records one Chroma call may write or fetch by id (5,461 for embedded Chroma)."""
        if not self._batch:
            size = int(self.client.get_max_batch_size())
            self._batch = size if size > 0 else _FALLBACK_BATCH
        return self._batch

    def _slices(self, n: int) -> Iterator[slice]:
        step = self.batch
        return (slice(i, i + step) for i in range(0, n, step))

    @property
    @_reachable
    def collection(self) -> Any:
        if self._collection is None:
            self._collection = self._same_embedder(
                self.client.get_or_create_collection(
                    self.name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata=self._metadata(),
                )
            )
        return self._collection

    def _metadata(self) -> dict[str, str]:
        """A new version, and the embedder (which a collection's metadata must repeat: Chroma replaces it whole)."""
        return {_VERSION_KEY: uuid.uuid4().hex, **({_EMBEDDER_KEY: self.embedder} if self.embedder else {})}

    def _same_embedder(self, collection: Any) -> Any:
        """``collection``, unless its vectors come from another model than this store's embedder (an index
        made before embedders were recorded is taken as it is, and records this one at its next write)."""
        built = (collection.metadata or {}).get(_EMBEDDER_KEY)
        if built and self.embedder and built != self.embedder:
            raise IndexMismatch(
                f"the index '{self.name}' was built with the embedding model {built}, not {self.embedder}: "
                "set RAG_EMBEDDING_MODEL back, or index into another RAG_COLLECTION or RAG_DATA_DIR"
            )
        return collection

    @property
    @_reachable
    def files(self) -> Any:
        if self._files is None:
            # Chroma stores no record without a vector: each file record gets a constant one.
            self._files = self.client.get_or_create_collection(
                f"{self.name}.files", embedding_function=None, configuration={"hnsw": {"space": "l2"}}
            )
        return self._files

    @_reachable
    def _fresh(self) -> Any:
        """The collection as stored now (another process may have changed its metadata), or None."""
        from chromadb.errors import NotFoundError

        try:
            self._collection = self._same_embedder(self.client.get_collection(self.name, embedding_function=None))
        except NotFoundError:
            return None
        return self._collection

    @_reachable
    def exists(self) -> bool:
        return self._fresh() is not None

    @_reachable
    def count(self) -> int:
        # Chroma counts rows on every call, a cost that grows with the index: keep it off the question path.
        return int(self.collection.count())

    @_reachable
    def require_index(self) -> None:
        if self._fresh() is None or not self.collection.get(limit=1, include=[])["ids"]:
            raise IndexMissing(f"the index '{self.name}' is empty or missing: run 'rag ingest' on your documents first")

    # --- versions: every writer bumps it, so readers in any process know when to rebuild caches ---
    @_reachable
    def version(self) -> str:
        collection = self._fresh()
        return str((collection.metadata or {}).get(_VERSION_KEY, "")) if collection is not None else ""

    @_reachable
    def bump_version(self) -> None:
        self.collection.modify(metadata=self._metadata())

    # --- writes ---
    @_reachable
    def add(self, chunks: list[Chunk], embeddings: np.ndarray) -> None:
        if not chunks:
            return
        # The text goes in the metadata, not in ``documents``: embedded Chroma builds a trigram full-text
        # index over documents whatever the collection's Schema says, and we never query it (BM25 is ours).
        # That index was half the cost of a write (README, "Speed and scale").
        # Chroma refuses a call of more than ``batch`` records: a big file is written in several.
        for part in self._slices(len(chunks)):
            self.collection.upsert(
                ids=[c.id for c in chunks[part]],
                embeddings=embeddings[part],
                metadatas=[_metadata(c) for c in chunks[part]],
            )

    @_reachable
    def update_spans(self, chunks: list[Chunk]) -> None:
        """Refresh where chunks whose text did not change now sit in their file (no re-embedding); this also
        moves the text of an index written in the earlier layout from the document into the metadata."""
        for part in self._slices(len(chunks)):
            self.collection.update(ids=[c.id for c in chunks[part]], metadatas=[_metadata(c) for c in chunks[part]])

    @_reachable
    def delete(self, ids: list[str]) -> None:
        for part in self._slices(len(ids)):
            self.collection.delete(ids=ids[part])

    def mark_pending(self, sources: list[str]) -> None:
        """Before a file's chunks change: until its full record is written, the file counts as unfinished."""
        self.record_files([FileRecord(source) for source in sources])

    @_reachable
    def record_files(self, records: list[FileRecord]) -> None:
        for part in self._slices(len(records)):
            self.files.upsert(
                ids=[document_id(r.source) for r in records[part]],
                embeddings=np.zeros((len(records[part]), 1), dtype=np.float32),
                metadatas=[asdict(r) for r in records[part]],
            )

    @_reachable
    def forget_files(self, sources: list[str]) -> None:
        """After a file's chunks are gone."""
        for part in self._slices(len(sources)):
            self.files.delete(ids=[document_id(s) for s in sources[part]])

    # --- reads ---
    @_reachable
    def file_records(self) -> dict[str, FileRecord]:
        """One read of a row per file, however many chunks the files have."""
        records = {str(m["source"]): _record(m) for _, m in self._scan(self.files, include=["metadatas"])}
        if not records and self.collection.get(limit=1, include=[])["ids"]:
            records = self._adopt_unrecorded()
        return records

    def _adopt_unrecorded(self) -> dict[str, FileRecord]:
        """Chunks with no file records at all: an index written before file records existed. Every file
        with chunks gets a pending record, once, so each is checked and re-recorded by the next ingest."""
        sources = sorted({str(m["source"]) for _, m in self._scan(self.collection, include=["metadatas"])})
        self.mark_pending(sources)
        return {s: FileRecord(s) for s in sources}

    @_reachable
    def chunk_ids(self, source: str) -> set[str]:
        return {cid for cid, _ in self._scan(self.collection, include=[], where={"source": source})}

    @_reachable
    def documents(self) -> list[DocumentInfo]:
        return sorted(
            (
                DocumentInfo(
                    id=document_id(s),
                    source=s,
                    chunks=r.n_chunks if r.complete else len(self.chunk_ids(s)),
                    file_hash=r.file_hash,
                )
                for s, r in self.file_records().items()
            ),
            key=lambda d: d.source,
        )

    @_reachable
    def all_chunks(self) -> list[Chunk]:
        return [
            _chunk(cid, meta, doc) for cid, meta, doc in self._scan(self.collection, include=["metadatas", "documents"])
        ]

    @_reachable
    def dense(self, query_embedding: np.ndarray, n: int) -> list[tuple[Chunk, float]]:
        """The ``n`` nearest chunks with their cosine similarity (fewer when the index holds fewer)."""
        res = self.collection.query(
            query_embeddings=[query_embedding], n_results=n, include=["documents", "metadatas", "distances"]
        )
        return [
            (_chunk(cid, meta, doc), 1.0 - float(dist))
            for cid, meta, doc, dist in zip(
                res["ids"][0], res["metadatas"][0], res["documents"][0], res["distances"][0], strict=True
            )
        ]

    @_reachable
    def get(self, ids: list[str]) -> list[Chunk]:
        chunks: list[Chunk] = []
        for part in self._slices(len(ids)):
            res = self.collection.get(ids=ids[part], include=["metadatas", "documents"])
            chunks += [_chunk(*row) for row in zip(res["ids"], res["metadatas"], res["documents"], strict=True)]
        return chunks

    @_reachable
    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for part in self._slices(len(ids)):
            res = self.collection.get(ids=ids[part], include=["embeddings"])
            found |= {
                cid: np.asarray(e, dtype=np.float32) for cid, e in zip(res["ids"], res["embeddings"], strict=True)
            }
        return found

    @staticmethod
    def _scan(  # type: ignore[no-untyped-def]
        collection: Any, include: list[str], where: dict[str, Any] | None = None, page: int = 5000
    ):
        """All records (matching ``where``), paged so a large collection never comes back in one response."""
        offset = 0
        while True:
            res = collection.get(where=where, include=include, limit=page, offset=offset)
            ids = res["ids"]
            if not ids:
                return
            metas = res.get("metadatas") or [{}] * len(ids)
            if "documents" in include:
                yield from zip(ids, metas, res["documents"], strict=True)
            else:
                yield from zip(ids, metas, strict=True)
            offset += len(ids)


def document_id(source: str) -> str:
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _metadata(c: Chunk) -> dict[str, str | int | bool]:
    meta: dict[str, str | int | bool] = {"source": c.source, "start": c.start, "end": c.end, "text": c.text}
    if c.page is not None:
        # Always all three on a paged chunk: an update merges metadata, so a field left out would keep its
        # old value when a passage moves off a page boundary.
        meta |= {"page": c.page, "page_end": c.page_end or c.page, "ocr": c.ocr}
    return meta


def _record(meta: dict[str, Any]) -> FileRecord:
    return FileRecord(
        source=str(meta["source"]),
        file_hash=str(meta["file_hash"]),
        chunker=str(meta["chunker"]),
        n_chunks=int(meta["n_chunks"]),
    )


def _chunk(cid: str, meta: dict[str, Any], doc: str | None) -> Chunk:
    # Indexes written before the text moved into the metadata keep it as the document.
    text = meta.get("text", doc)
    chunk = Chunk(
        id=cid, source=str(meta["source"]), text=str(text or ""), start=int(meta["start"]), end=int(meta["end"])
    )
    if "page" in meta:
        chunk.page = int(meta["page"])
        chunk.page_end = int(meta["page_end"]) if int(meta.get("page_end") or 0) > chunk.page else None
        chunk.ocr = bool(meta.get("ocr", False))
    return chunk
