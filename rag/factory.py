"""Wiring: build the store, ingestor and answering engine from one Settings object."""

from __future__ import annotations

from dataclasses import fields
from functools import partial
from typing import Any

from rag.answer import AnswerPolicy, QAEngine
from rag.calibration import apply_calibration
from rag.config import Settings
from rag.embeddings import get_embedder, model_id
from rag.generators import build_generator
from rag.ingest import Ingestor, PageCallback
from rag.retrieve import HybridRetriever
from rag.store import Store, connect


def make_client(settings: Settings) -> Any:
    """The Chroma client of the configured index (a server when ``chroma_url`` is set, else embedded)."""
    return connect(settings.chroma_url, settings.data_dir)


def build_store(settings: Settings, collection: str | None = None) -> Store:
    """The store of ``collection`` (default: the configured one); it connects on first use."""
    return Store(
        collection or settings.collection_name,
        partial(make_client, settings),
        settings.chroma_url,
        model_id(settings.embedding_model),
    )


def build_ingestor(settings: Settings, store: Store | None = None, on_page: PageCallback | None = None) -> Ingestor:
    return Ingestor(
        store or build_store(settings),
        get_embedder(settings.embedding_model),
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        max_file_mb=settings.max_file_mb,
        corpus_dir=settings.corpus_dir,
        on_page=on_page,
    )


def build_retriever(settings: Settings, store: Store, mode: str = "hybrid") -> HybridRetriever:
    return HybridRetriever(
        store=store,
        embedder=get_embedder(settings.embedding_model),
        k=settings.top_k,
        fetch_k=settings.fetch_k,
        mode=mode,
    )


def answer_policy(settings: Settings) -> AnswerPolicy:
    """The limits and thresholds of answering, as ``settings`` give them (each policy field is the
    setting of the same name)."""
    return AnswerPolicy(**{f.name: getattr(settings, f.name) for f in fields(AnswerPolicy)})


def calibrated_policy(settings: Settings, collection: str | None = None) -> AnswerPolicy:
    """``answer_policy`` where a stored calibration (``rag calibrate``) of this collection and generator
    sets the thresholds that ``settings`` leave at their defaults (``apply_calibration``)."""
    return answer_policy(apply_calibration(settings, collection))


def build_engine(settings: Settings, store: Store | None = None, mode: str = "hybrid") -> QAEngine:
    """The answering engine, with the calibrated policy of its collection (``calibrated_policy``)."""
    store = store or build_store(settings)
    retriever = build_retriever(settings, store, mode)
    return QAEngine(retriever, build_generator(settings), calibrated_policy(settings, store.name))
