"""The naive RAG baseline the real chain is measured against: what a first tutorial builds.

Fixed 1000/200-character chunks in a collection of their own, dense top-4, a plain "answer from the
context" prompt to the same LLM, and nothing else: no hybrid search, no focusing, no abstention gate,
no citation markers or checks. Its retrieved passages are reported as its citations (a naive app
lists them as "sources"), and its answer counts as an abstention only when its text declines.
"""

from __future__ import annotations

import time
from pathlib import Path

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.citations import citation, is_abstention
from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_store
from rag.generate import ExtractiveGenerator
from rag.generators import chat_model, generator_kind
from rag.ingest import Ingestor
from rag.schema import Answer, Chunk, ScoredChunk
from rag.store import Store

CHUNK_SIZE = 1000
CHUNK_OVERLAP = 200
TOP_K = 4
PROMPT = "Answer the question based only on the following context:\n\n{context}\n\nQuestion: {question}"


class NaiveIngestor(Ingestor):
    """Our incremental indexing, with LangChain's default splitter at the tutorial's fixed sizes."""

    def __init__(self, store: Store, embedder: Embedder, *, max_file_mb: float, corpus_dir: Path) -> None:
        super().__init__(
            store,
            embedder,
            chunk_size=CHUNK_SIZE,
            chunk_overlap=CHUNK_OVERLAP,
            max_file_mb=max_file_mb,
            corpus_dir=corpus_dir,
        )
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP, add_start_index=True
        )
        self.chunker = f"naive-{CHUNK_SIZE}-{CHUNK_OVERLAP}"


class NaiveChain:
    """``retrieve | prompt | model | parser``; ``ask`` returns the same ``Answer`` type as ``QAEngine``."""

    def __init__(self, settings: Settings, embedder: Embedder, store: Store) -> None:
        self.store = store
        self.embedder = embedder
        self.retrieve: Runnable[str, list[ScoredChunk]] = RunnableLambda(self.search)
        self.generate: Runnable[dict[str, str], str] = _generation_chain(settings, embedder)

    @classmethod
    def indexed(cls, settings: Settings, embedder: Embedder, corpus: Path, progress: bool | None = None) -> NaiveChain:
        """The chain over ``corpus``, indexed (incrementally) into a collection of its own."""
        store = build_store(settings, f"{settings.collection_name}-naive")
        ingestor = NaiveIngestor(store, embedder, max_file_mb=settings.max_file_mb, corpus_dir=corpus)
        ingestor.run([corpus], progress)
        return cls(settings, embedder, store)

    def search(self, question: str, k: int = TOP_K) -> list[ScoredChunk]:
        hits = self.store.dense(self.embedder.embed_one(question), k)
        return [ScoredChunk(chunk=chunk, score=round(score, 4)) for chunk, score in hits]

    def ask(self, question: str) -> Answer:
        t0 = time.perf_counter()
        passages = self.retrieve.invoke(question)
        retrieved = _ms(t0)
        context = "\n\n".join(p.chunk.text for p in passages)
        text = " ".join(self.generate.invoke({"context": context, "question": question}).split())
        citations = [citation(n, p) for n, p in enumerate(passages, start=1)]  # with pages, as the chain's
        abstained = not text or is_abstention(text)
        return Answer(
            answer=text,
            citations=[] if abstained else citations,
            abstained=abstained,
            question=question,
            standalone_question=question,
            timings_ms={"retrieve": retrieved, "generate": round(_ms(t0) - retrieved, 1), "total": _ms(t0)},
        )


def _generation_chain(settings: Settings, embedder: Embedder) -> Runnable[dict[str, str], str]:
    if generator_kind(settings.llm).writes:
        return ChatPromptTemplate.from_messages([("human", PROMPT)]) | chat_model(settings) | StrOutputParser()
    # Without an LLM, the "same generator" is the extractive one, with its abstention threshold off.
    extractive = ExtractiveGenerator(embedder, min_score=-1.0)

    def quote(inputs: dict[str, str]) -> str:
        passage = ScoredChunk(chunk=Chunk(id="", source="", text=inputs["context"], start=0, end=0), score=0)
        reply = "".join(t for t in extractive.stream(inputs["question"], [passage]) if isinstance(t, str))
        return reply.removesuffix(" [1]")

    return RunnableLambda(quote)


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
