"""Hybrid retrieval: dense (MiniLM in Chroma) and BM25 rankings fused by reciprocal rank fusion."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, PrivateAttr

from rag.embeddings import Embedder
from rag.schema import Chunk, ScoredChunk
from rag.store import Store
from rag.terms import Vocabulary, names, words

log = logging.getLogger(__name__)

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very first ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse rankings (ids, best first) into one: each id scores the sum of ``1 / (k + rank)`` over the
    rankings it appears in. Best first; ties keep the order in which the ids were first seen."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: pair[1], reverse=True)


def tokenize(text: str) -> list[str]:
    return words(text)  # lower case, accents folded: "Céloron" finds "Celeron"


class _BM25Index:
    """BM25 over every chunk of the collection, rebuilt when the collection's version changes."""

    def __init__(self, chunks: list[Chunk]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
        self.chunks = chunks
        self.retriever: Any = None
        tokens = [tokenize(c.text) for c in chunks]
        # Every word the corpus uses: what the question checks look a question's subject up in.
        self.vocabulary = Vocabulary((w for t in tokens for w in t), (n for c in chunks for n in names(c.text)))
        if chunks:
            self.retriever = bm25s.BM25()
            self.retriever.index(tokens, show_progress=False)

    def search(self, query: str, n: int) -> list[tuple[Chunk, float]]:
        tokens = tokenize(query)
        if self.retriever is None or not tokens:
            return []
        docs, scores = self.retriever.retrieve([tokens], k=min(n, len(self.chunks)), show_progress=False)
        return [(self.chunks[int(i)], float(s)) for i, s in zip(docs[0], scores[0], strict=True) if s > 0]


class HybridRetriever(BaseRetriever):
    """A LangChain retriever over our Chroma store; ``search`` returns typed, scored chunks."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: Store
    embedder: Embedder
    k: int = 3
    fetch_k: int = 20
    mode: str = "hybrid"  # "dense" and "bm25" exist for baselines and diagnosis

    _bm25: _BM25Index | None = PrivateAttr(default=None)
    _bm25_version: str = PrivateAttr(default="")
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def search(self, query: str, k: int | None = None) -> list[ScoredChunk]:
        k = k or self.k
        q = self.embedder.embed_one(query)
        dense = self.store.dense(q, self.fetch_k) if self.mode != "bm25" else []
        sparse = self._bm25_index().search(query, self.fetch_k) if self.mode != "dense" else []

        by_id = {chunk.id: chunk for ranking in (dense, sparse) for chunk, _ in ranking}
        fused = dict(reciprocal_rank_fusion([[c.id for c, _ in dense], [c.id for c, _ in sparse]])[:k])
        top = list(fused)

        # Every result carries its cosine similarity, including BM25-only hits, so scores compare.
        sims = {c.id: s for c, s in dense}
        missing = [cid for cid in top if cid not in sims]
        for cid, emb in self.store.embeddings(missing).items():
            sims[cid] = float(np.dot(emb, q))
        return [ScoredChunk(chunk=by_id[cid], score=round(sims[cid], 4), fused=round(fused[cid], 5)) for cid in top]

    def vocabulary(self) -> Vocabulary:
        """The words of every indexed chunk, as of the index's current version."""
        return self._bm25_index().vocabulary

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """``invoke(query, k=n)`` overrides ``k`` for one call, as ``search(query, n)`` does."""
        return [
            Document(
                page_content=s.chunk.text,
                id=s.chunk.id,
                metadata={**s.chunk.model_dump(exclude={"text"}), "score": s.score, "fused": s.fused},
            )
            for s in self.search(query, k)
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        # The base class runs the sync search in a thread but drops ``k``: pass it on.
        return await run_in_executor(None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k)

    def _bm25_index(self) -> _BM25Index:
        version = self.store.version()
        with self._lock:
            if self._bm25 is None or version != self._bm25_version:
                self._bm25 = _BM25Index(self.store.all_chunks())
                self._bm25_version = version
                log.info("bm25 index built", extra={"chunks": len(self._bm25.chunks)})
            return self._bm25
