import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import IndexMissing
from rag.factory import build_ingestor, build_store
from rag.retrieve import HybridRetriever
from rag.store import Store

# Every test here runs on the embedded store and on a real Chroma server (RAG_CHROMA_URL).
BACKENDS = ("embedded", "server")


def indexed(settings: Settings, embedder: Embedder) -> Store:
    store = build_store(settings)
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    return store


def test_hybrid_finds_the_passage_and_scores_it(indexed_store: Store, embedder: Embedder) -> None:
    retriever = HybridRetriever(store=indexed_store, embedder=embedder, k=3)
    results = retriever.search("Where did Maher al-Assad flee to?")
    assert len(results) == 3
    assert "fled to Iraq" in results[0].chunk.text
    assert 0.3 < results[0].score <= 1.0
    assert results[0].fused >= results[1].fused >= results[2].fused


def test_it_is_a_langchain_retriever(indexed_store: Store, embedder: Embedder) -> None:
    retriever = HybridRetriever(store=indexed_store, embedder=embedder, k=2)
    docs = retriever.invoke("Sednaya prison")
    assert len(docs) == 2
    assert "Sednaya" in docs[0].page_content
    assert docs[0].metadata["source"] == "syria-assad-fall.txt"


def test_unrelated_questions_score_low(indexed_settings: Settings, indexed_store: Store, embedder: Embedder) -> None:
    retriever = HybridRetriever(store=indexed_store, embedder=embedder, k=3)
    assert max(r.score for r in retriever.search("Who won the 2022 World Cup?")) < indexed_settings.min_score


def test_bm25_sees_new_documents_after_ingest(settings: Settings, embedder: Embedder) -> None:
    store = indexed(settings, embedder)
    retriever = HybridRetriever(store=store, embedder=embedder, k=1, mode="bm25")
    assert retriever.search("Zanzibarian") == []
    (settings.corpus_dir / "new.txt").write_text("The Zanzibarian delegation arrived late.")
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    assert "Zanzibarian" in retriever.search("Zanzibarian")[0].chunk.text


def test_dense_and_bm25_modes_each_work(indexed_store: Store, embedder: Embedder) -> None:
    for mode in ("dense", "bm25"):
        hits = HybridRetriever(store=indexed_store, embedder=embedder, k=2, mode=mode).search("Bilal Shahadi Sednaya")
        assert "Bilal Shahadi" in hits[0].chunk.text, mode


def test_asking_for_more_passages_than_the_index_holds_returns_them_all(
    indexed_store: Store, embedder: Embedder
) -> None:
    hits = HybridRetriever(store=indexed_store, embedder=embedder, k=50, fetch_k=100).search("Assad")
    assert len(hits) == indexed_store.count() > 0
    assert len({h.chunk.id for h in hits}) == len(hits)


def test_index_checks_neither_create_the_index_nor_miss_another_writer(settings: Settings, embedder: Embedder) -> None:
    reader = build_store(settings)
    assert reader.version() == "" and not reader.exists()
    with pytest.raises(IndexMissing, match="rag ingest"):
        reader.require_index()
    assert not reader.exists()  # checking did not create an empty index

    writer = indexed(settings, embedder)  # another Store object, as another process would hold
    first = reader.version()
    assert first and reader.exists()
    reader.require_index()
    (settings.corpus_dir / "new.txt").write_text("The Zanzibarian delegation arrived late.")
    build_ingestor(settings, writer).run([settings.corpus_dir], progress=False)
    assert reader.version() not in {"", first}
