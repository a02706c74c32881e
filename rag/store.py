"""The Chroma index: one collection per corpus, our own embedder always, stable chunk ids."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.config import Settings
from rag.errors import IndexMissing, RagError
from rag.schema import Chunk, DocumentInfo

log = logging.getLogger(__name__)

_VERSION_KEY = "rag_version"


@dataclass
class SourceState:
    """What the index holds for one source file."""

    file_hash: str = ""
    chunker: str = ""
    ids: set[str] = field(default_factory=set)
    expected: int = 0  # chunk count the file had when it was written; fewer means an interrupted write

    @property
    def complete(self) -> bool:
        return bool(self.file_hash) and len(self.ids) == self.expected


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        if not url.hostname:
            raise RagError(f"RAG_CHROMA_URL is not a URL: {settings.chroma_url!r}")
        ssl = url.scheme == "https"
        port = url.port or (443 if ssl else 8000)
        try:
            return chromadb.HttpClient(host=url.hostname, port=port, ssl=ssl, settings=chroma_settings)
        except Exception as exc:
            raise RagError(f"cannot reach the Chroma server at {settings.chroma_url}: {exc}") from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.data_dir), settings=chroma_settings)


class Store:
    """Chunks and their embeddings in a Chroma collection.

    Embeddings are always computed by us and passed in, and the collection has no embedding function,
    so Chroma's default embedder (which downloads a model) can never run.
    """

    def __init__(self, settings: Settings, collection: str | None = None, client: Any = None) -> None:
        self.settings = settings
        self.name = collection or settings.collection_name
        self.client = client or make_client(settings)
        self._collection: Any = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            self._collection = self.client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={_VERSION_KEY: uuid.uuid4().hex},
            )
        return self._collection

    def _fresh(self) -> Any:
        """The collection as stored now (another process may have changed its metadata), or None."""
        from chromadb.errors import NotFoundError

        try:
            self._collection = self.client.get_collection(self.name, embedding_function=None)
        except NotFoundError:
            return None
        return self._collection

    def exists(self) -> bool:
        return self._fresh() is not None

    def count(self) -> int:
        # Chroma counts rows on every call (about 15 ms at 100k chunks): keep it off the question path.
        return int(self.collection.count())

    def require_index(self) -> None:
        if self._fresh() is None or not self.collection.get(limit=1, include=[])["ids"]:
            raise IndexMissing(f"the index '{self.name}' is empty or missing: run 'rag ingest' on your documents first")

    # --- versions: every writer bumps it, so readers in any process know when to rebuild caches ---
    def version(self) -> str:
        collection = self._fresh()
        return str((collection.metadata or {}).get(_VERSION_KEY, "")) if collection is not None else ""

    def bump_version(self) -> None:
        self.collection.modify(metadata={_VERSION_KEY: uuid.uuid4().hex})

    # --- writes ---
    def add(self, chunks: list[Chunk], embeddings: np.ndarray, expected: dict[str, int], chunker: str) -> None:
        if not chunks:
            return
        self.collection.upsert(
            ids=[c.id for c in chunks],
            embeddings=embeddings,
            documents=[c.text for c in chunks],
            metadatas=[_metadata(c, expected[c.source], chunker) for c in chunks],
        )

    def update_metadata(self, chunks: list[Chunk], expected: dict[str, int], chunker: str) -> None:
        """Refresh spans and file hash of chunks whose text did not change (no re-embedding)."""
        if chunks:
            self.collection.update(
                ids=[c.id for c in chunks], metadatas=[_metadata(c, expected[c.source], chunker) for c in chunks]
            )

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 5000):
            self.collection.delete(ids=ids[i : i + 5000])

    # --- reads ---
    def sources(self) -> dict[str, SourceState]:
        states: dict[str, SourceState] = defaultdict(SourceState)
        for cid, meta in self._scan(include=["metadatas"]):
            state = states[str(meta["source"])]
            state.ids.add(cid)
            if state.file_hash and state.file_hash != meta.get("file_hash"):
                state.expected = -1  # chunks of two versions of the file: an interrupted update
            elif state.expected != -1:
                state.file_hash = str(meta.get("file_hash", ""))
                state.chunker = str(meta.get("chunker", ""))
                state.expected = int(meta.get("n_chunks", 0))
        return dict(states)

    def documents(self) -> list[DocumentInfo]:
        return sorted(
            (
                DocumentInfo(id=document_id(s), source=s, chunks=len(st.ids), file_hash=st.file_hash)
                for s, st in self.sources().items()
            ),
            key=lambda d: d.source,
        )

    def all_chunks(self) -> list[Chunk]:
        return [_chunk(cid, meta, doc) for cid, meta, doc in self._scan(include=["metadatas", "documents"])]

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

    def get(self, ids: list[str]) -> list[Chunk]:
        if not ids:
            return []
        res = self.collection.get(ids=ids, include=["metadatas", "documents"])
        return [_chunk(*row) for row in zip(res["ids"], res["metadatas"], res["documents"], strict=True)]

    def embeddings(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        res = self.collection.get(ids=ids, include=["embeddings"])
        return {cid: np.asarray(emb, dtype=np.float32) for cid, emb in zip(res["ids"], res["embeddings"], strict=True)}

    def _scan(self, include: list[str], page: int = 5000):  # type: ignore[no-untyped-def]
        """All records, paged so a large collection never comes back in one response."""
        offset = 0
        while True:
            res = self.collection.get(include=include, limit=page, offset=offset)
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


def _metadata(c: Chunk, n_chunks: int, chunker: str) -> dict[str, str | int]:
    return {
        "chunker": chunker,
        "source": c.source,
        "start": c.start,
        "end": c.end,
        "content_hash": c.content_hash,
        "file_hash": c.file_hash,
        "n_chunks": n_chunks,
    }


def _chunk(cid: str, meta: dict[str, Any], doc: str) -> Chunk:
    return Chunk(
        id=cid,
        source=str(meta["source"]),
        text=doc,
        start=int(meta["start"]),
        end=int(meta["end"]),
        content_hash=str(meta.get("content_hash", "")),
        file_hash=str(meta.get("file_hash", "")),
    )
