"""How many passages the hybrid retriever returns: its own ``k``, or the ``k`` of one call."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_ingestor, build_store
from rag.retrieve import HybridRetriever

QUESTION = "Where did Maher al-Assad flee to?"


@pytest.fixture()
def retriever(settings: Settings, embedder: Embedder) -> HybridRetriever:
    store = build_store(settings)
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    return HybridRetriever(store=store, embedder=embedder, k=3)


def test_k_of_one_call_overrides_the_retrievers_own(retriever: HybridRetriever) -> None:
    assert len(retriever.invoke(QUESTION)) == 3
    one = retriever.invoke(QUESTION, k=1)
    assert len(one) == 1 and "fled to Iraq" in one[0].page_content
    assert len(retriever.invoke(QUESTION, k=5)) == 5
    assert len(retriever.search(QUESTION, 1)) == 1  # the same override, the same way


async def test_k_of_one_async_call_overrides_too(retriever: HybridRetriever) -> None:
    assert len(await retriever.ainvoke(QUESTION, k=1)) == 1
