"""The long-lived bot behind the HTTP API and the web UI: one per server process.

It owns the index and one answering engine per generator (built on first use), behind a bounded
queue (``rag.queue``) and the answer cache; the other concerns live in their own modules and are
reached through it: example questions (``rag.examples``), uploads and deletes (``rag.uploads``) and
evaluation jobs (``rag.jobs``). ``api/`` and ``ui/`` only translate to and from it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from rag.answer import QAEngine, validate_question
from rag.cache import AnswerCache
from rag.config import Settings
from rag.embeddings import get_embedder
from rag.errors import NotFound
from rag.examples import ExampleQuestions
from rag.factory import answer_policy, build_generator, build_retriever, build_store, calibrated_policy
from rag.generators import offered
from rag.jobs import EvalJobs
from rag.queue import Gate, Ticket
from rag.retrieve import HybridRetriever
from rag.schema import Answer, Chunk, DocumentInfo, FileResult, Turn
from rag.stream import AnswerStream
from rag.uploads import Documents

__all__ = ["AnswerStream", "Gate", "RagService", "Ticket"]

log = logging.getLogger(__name__)


class RagService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = build_store(settings)
        self.gate = Gate(settings.max_queue)
        self.cache = AnswerCache(settings.answer_cache)
        self._engines: dict[str, QAEngine] = {}
        self._retriever: HybridRetriever | None = None
        self._build_lock = threading.Lock()
        self.load_error: str | None = None
        self.reconciling = False  # the start-up check of the corpus folder against the index is running
        self.docs = Documents(settings, self.store)
        self.writes = self.docs.writes  # uploads and deletes take turns here, apart from questions
        self.jobs = EvalJobs(settings)  # evaluation jobs: the API and the UI call it directly
        self.example_questions = ExampleQuestions(
            settings.examples, self.store, self.gate, settings.data_dir, lambda: self.engine().generator, self.ask
        )

    # --- generators and readiness ---
    def generators(self) -> list[str]:
        """Generators this server offers, the configured default first."""
        return offered(self.settings)

    def engine(self, llm: str | None = None) -> QAEngine:
        kind = llm or self.settings.llm
        if kind not in self.generators():
            raise NotFound(f"unknown generator '{kind}'; available: {', '.join(self.generators())}")
        settings = self.settings.model_copy(update={"llm": kind})
        with self._build_lock:
            if kind not in self._engines:
                if self._retriever is None:
                    self._retriever = build_retriever(self.settings, self.store)
                self._engines[kind] = QAEngine(self._retriever, build_generator(settings), answer_policy(settings))
            engine = self._engines[kind]
            # Every time: a calibration stored since (``rag calibrate``) applies from the next question on.
            engine.policy = calibrated_policy(settings, self.store.name)
            return engine

    def warm_up(self) -> None:
        """Load the default generator and the embedder, so the first question is not the slow one;
        then find example questions (they take turns in the queue like any question)."""
        try:
            self.engine()
            self.load_error = None
        except Exception as exc:  # readiness reports it; the process stays up to say why
            self.load_error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("warm-up failed: %s", self.load_error)
            return
        self.example_questions.refresh()

    def readiness(self) -> dict[str, Any]:
        """Ready once the default generator is loaded, the index opens and the start-up check of the
        corpus folder is done. An empty index is still ready: documents can be uploaded to it, and
        questions get a clear "no documents" error."""
        loaded = self.settings.llm in self._engines
        try:
            chunks = self.store.count()
        except Exception as exc:  # e.g. a Chroma server that went away
            return {
                "ready": False,
                "models_loaded": loaded,
                "chunks": 0,
                "generator": self.settings.llm,
                "reason": f"index unavailable: {exc}",
            }
        reason = self.load_error or ("" if loaded else "loading models")
        if self.reconciling and not reason:
            reason = "checking the corpus folder against the index"
        return {
            "ready": loaded and not self.reconciling,
            "models_loaded": loaded,
            "chunks": chunks,
            "generator": self.settings.llm,
            "reason": reason,
        }

    # --- questions ---
    def ask(
        self, question: str, history: list[Turn] | None = None, k: int | None = None, llm: str | None = None
    ) -> Answer:
        return self.stream(question, history, k, llm).result()

    def stream(
        self, question: str, history: list[Turn] | None = None, k: int | None = None, llm: str | None = None
    ) -> AnswerStream:
        """Checks the question and takes a place in the queue now (so errors and 503 come before any
        output); generation starts when the returned stream is iterated."""
        question = validate_question(question, self.settings.max_question_chars)
        self.store.require_index()
        engine = self.engine(llm)
        history = history or []
        key = AnswerCache.key(
            self.store.version(), llm or self.settings.llm, k or self.settings.top_k, question, history
        )
        if (known := self.cache.get(key)) is not None:
            return AnswerStream(iter([known.answer, known]))  # no generation: no place in the queue
        ticket = self.gate.admit()
        return AnswerStream(self._remember(key, engine.stream(question, history, k)), ticket)

    def _remember(self, key: str, events: Iterator[str | Answer]) -> Iterator[str | Answer]:
        for event in events:
            if isinstance(event, Answer):
                self.cache.put(key, event)
            yield event

    # --- start-up ---
    def start(self) -> None:
        """Start-up work, in the background: check the corpus folder against the index, load the models.

        Readiness waits for both; /healthz answers at once."""
        self.reconciling = True

        def run() -> None:
            # The embedder first, once: both need it, and two threads asking at once would load it twice.
            with contextlib.suppress(Exception):  # a failure is the warm-up's to report
                get_embedder(self.settings.embedding_model)
            threading.Thread(target=self.warm_up, name="warm-up", daemon=True).start()
            self.reconcile()

        threading.Thread(target=run, name="start-up", daemon=True).start()

    # --- example questions and documents: see rag.examples, rag.uploads (evaluation jobs: self.jobs) ---
    def examples(self) -> list[str]:
        return self.example_questions.current()

    def documents(self) -> list[DocumentInfo]:
        return self.docs.list()

    def passages(self, chunk_ids: list[str]) -> dict[str, Chunk]:
        return self.docs.passages(chunk_ids)

    def check_upload(self, filename: str, size: int) -> str:
        return self.docs.check_upload(filename, size)

    def add_document(self, filename: str, data: bytes, ticket: Ticket | None = None) -> FileResult:
        return self.docs.add(filename, data, ticket)

    def delete_document(self, doc_id: str, ticket: Ticket | None = None) -> FileResult:
        return self.docs.delete(doc_id, ticket)

    def reconcile(self) -> None:
        """Make the index agree with the corpus folder (``Documents.reconcile``); readiness waits for it."""
        try:
            self.docs.reconcile()
        finally:
            self.reconciling = False
