"""The long-lived bot behind the HTTP API and the web UI: one per server process.

It owns the index, one answering engine per generator (built on first use), a bounded queue in front
of generation, document upload and removal (behind a bounded queue of their own, and a lock shared with
other processes writing into the same corpus folder), and evaluation jobs. ``api/`` and ``ui/`` only
translate to and from it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.answer import QAEngine, validate_question
from rag.cache import AnswerCache
from rag.calibrate import apply_calibration
from rag.config import Settings
from rag.embeddings import get_embedder
from rag.errors import (
    Busy,
    Conflict,
    EvalCancelled,
    FileTooLarge,
    InvalidEvalSet,
    InvalidQuestion,
    NotFound,
    RagError,
    UnreadableDocument,
    UnsupportedFile,
)
from rag.evalset import EvalItem, load_evalset
from rag.factory import build_generator, build_ingestor, build_retriever, build_store
from rag.generators import offered
from rag.ingest import source_path
from rag.loaders import SUPPORTED, Unreadable, load_text
from rag.schema import Answer, Chunk, DocumentInfo, EvalJob, FileResult, Turn
from rag.stream import AnswerStream
from rag.writes import check_filename, corpus_lock, remove_leftovers, write_file

# Uploads and deletes that may wait for their turn (one runs at a time); more get 503 with Retry-After.
MAX_WAITING_WRITES = 16
# Finished evaluation jobs kept (with their reports and output folders); older ones are forgotten.
KEEP_EVAL_JOBS = 20

log = logging.getLogger(__name__)


class Ticket:
    """A place in the generation queue. ``with ticket:`` waits for the turn; release is idempotent."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._running = False
        self._released = False
        self._t0 = 0.0

    def __enter__(self) -> Ticket:
        self._gate._turn.acquire()
        self._running = True
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        with self._gate._lock:
            if self._released:
                return
            self._released = True
            self._gate.admitted -= 1
            if self._running:
                # a running average of how long one turn takes, for Retry-After
                self._gate.seconds_per_turn = 0.7 * self._gate.seconds_per_turn + 0.3 * (time.perf_counter() - self._t0)
        if self._running:
            self._running = False
            self._gate._turn.release()


class Gate:
    """One generation at a time, at most ``max_waiting`` more in line; the rest are refused at once.

    The local model answers one question at a time; queueing without bound would only turn a burst
    into timeouts, so a full queue says "busy, retry in N s" (HTTP 503 + Retry-After) instead.
    Document writes take turns through a gate of their own (``what`` names the work in the message).
    """

    def __init__(self, max_waiting: int, what: str = "questions") -> None:
        self.max_waiting = max_waiting
        self.what = what
        self.admitted = 0
        self.seconds_per_turn = 5.0
        self._lock = threading.Lock()
        self._turn = threading.Lock()

    def admit(self) -> Ticket:
        with self._lock:
            if self.admitted > self.max_waiting:
                retry = max(1, math.ceil(self.seconds_per_turn * self.admitted))
                raise Busy(f"busy: {self.admitted} {self.what} ahead; retry in {retry} s", retry)
            self.admitted += 1
        return Ticket(self)


class RagService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = build_store(settings)
        self.gate = Gate(settings.max_queue)
        self.cache = AnswerCache(settings.answer_cache)
        self._engines: dict[str, QAEngine] = {}
        self._retriever: Any = None
        self._build_lock = threading.Lock()
        # Uploads and deletes: one at a time, a bounded line behind it (503 beyond), never a pile of
        # blocked threads; across processes, ``corpus_lock`` serialises them too.
        self.writes = Gate(MAX_WAITING_WRITES, what="document writes")
        self.load_error: str | None = None
        self.reconciling = False  # the start-up check of the corpus folder against the index is running
        self._examples: tuple[str, list[str]] = ("", [])  # (index version, questions)
        self._refreshing = threading.Lock()
        self._jobs: dict[str, EvalJob] = {}
        self._reports: dict[str, Any] = {}  # job id -> rag.evaluate.EvalReport
        self._cancelled: set[str] = set()  # running jobs asked to stop
        self._jobs_lock = threading.Lock()

    # --- generators and readiness ---
    def generators(self) -> list[str]:
        """Generators this server offers, the configured default first."""
        return offered(self.settings)

    def engine(self, llm: str | None = None) -> QAEngine:
        kind = llm or self.settings.llm
        if kind not in self.generators():
            raise NotFound(f"unknown generator '{kind}'; available: {', '.join(self.generators())}")
        with self._build_lock:
            if kind not in self._engines:
                settings = self.settings.model_copy(update={"llm": kind})
                if self._retriever is None:
                    self._retriever = build_retriever(self.settings, self.store)
                self._engines[kind] = QAEngine(settings, self._retriever, build_generator(settings))
            engine = self._engines[kind]
            # A calibration stored since (``rag calibrate``) applies from the next question on.
            engine.settings = apply_calibration(self.settings.model_copy(update={"llm": kind}), self.store.name)
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
        self._refresh_examples()

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
        question = validate_question(question, self.settings)
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

    # --- example questions ---
    def examples(self) -> list[str]:
        """Checked example questions for a new user (none until prepared; refreshed in the background
        when the documents changed since)."""
        version, questions = self._examples
        if questions and self.store.exists() and version != self.store.version():
            if not self._refreshing.locked():
                threading.Thread(target=self._refresh_examples, name="examples", daemon=True).start()
            return []
        return questions

    def _refresh_examples(self) -> None:
        with self._refreshing:
            try:
                self.prepare_examples()
            except Exception:
                log.exception("example questions failed")

    def _wait_for_idle(self) -> None:
        """Examples are a nicety: they go only when no user question is waiting or running."""
        while self.gate.admitted:
            time.sleep(0.5)

    def prepare_examples(self) -> list[str]:
        """Ask the generator for questions about passages (round robin over documents, from their
        openings on) and keep those the bot answers with a citation, so that a clicked example never
        meets "the documents do not say".

        Cached on disk per index version; done in the background after start-up.
        """
        n = self.settings.examples
        if not n or not self.store.exists() or self.store.count() == 0:
            return []
        version = self.store.version()
        cache = self.settings.data_dir / f"examples-{self.store.name}.json"
        if cache.is_file():
            saved = json.loads(cache.read_text())
            if saved.get("version") == version:
                self._examples = (version, saved["questions"])
                return saved["questions"]
        engine = self.engine()
        by_source: dict[str, list[Chunk]] = {}
        for chunk in sorted(self.store.all_chunks(), key=lambda c: (c.source, c.start)):
            by_source.setdefault(chunk.source, []).append(chunk)
        # Round robin over documents, from their openings on: examples cover several documents.
        ordered = [c for group in itertools.zip_longest(*by_source.values()) for c in group if c is not None]
        kept: list[str] = []
        for chunk in ordered[: 2 * n]:
            self._wait_for_idle()
            with self.gate.admit():
                candidates = engine.generator.questions(chunk.text, 2)
            for question in candidates:
                if question in kept:
                    continue
                self._wait_for_idle()
                answer = self.ask(question)
                if not answer.abstained and answer.citations:
                    kept.append(question)
                    break
            if len(kept) == n:
                break
        if kept:
            self._examples = (version, kept)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"version": version, "questions": kept}))
        log.info("example questions ready", extra={"examples": kept})
        return kept

    # --- documents ---
    def documents(self) -> list[DocumentInfo]:
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
        if size > self.settings.max_file_mb * 1024 * 1024:
            raise FileTooLarge(f"the file has {size} bytes; the limit is {self.settings.max_file_mb:g} MB")
        return name

    def add_document(self, filename: str, data: bytes, ticket: Ticket | None = None) -> FileResult:
        """Save an uploaded file into the corpus folder and index it (waiting for its turn to write:
        ``ticket`` is a place in ``self.writes`` taken beforehand, else one is taken here).

        Everything is checked before the file is written, so a bad upload never replaces a good
        document of the same name. A crash between the file's move and the end of its indexing is
        repaired by ``reconcile`` at the next start.
        """
        name = self.check_upload(filename, len(data))
        with ticket or self.writes.admit():
            try:
                load_text(Path(name), data)  # in turn: parsing a large PDF is real work
            except Unreadable as exc:
                raise UnreadableDocument(f"{name}: {exc}") from exc
            corpus = self.settings.corpus_dir
            with corpus_lock(corpus):
                dest = corpus / name
                write_file(dest, data)
                report = build_ingestor(self.settings, self.store).run([dest], progress=False)
        return report.files[0]

    def delete_document(self, doc_id: str, ticket: Ticket | None = None) -> FileResult:
        """Remove a document from the index, and its file when it lives in the corpus folder."""
        with ticket or self.writes.admit(), corpus_lock(self.settings.corpus_dir):
            # Read under the lock: another process may have removed (or re-added) it meanwhile.
            source = next((d.source for d in self.documents() if d.id == doc_id), None)
            if source is None:
                raise NotFound(f"no document with id '{doc_id}'")
            path = source_path(source, self.settings)
            if self.settings.corpus_dir.resolve() in path.parents:
                # The file goes first: a crash before the index is updated leaves an indexed document
                # without its file, which the next start prunes (the other order would bring it back).
                path.unlink(missing_ok=True)
            try:
                return build_ingestor(self.settings, self.store).remove(source)
            except FileNotFoundError as exc:  # its record went between our read and the removal
                raise NotFound(f"no document with id '{doc_id}'") from exc

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
        except Exception:
            log.exception("checking the corpus folder against the index failed")
        finally:
            self.reconciling = False

    # --- evaluation ---
    def evalsets(self) -> list[str]:
        """Eval sets in RAG_EVALS_DIR: JSONL files, and folders with an ``evalset.toml`` manifest."""
        folder = self.settings.evals_dir
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if (p.suffix == ".jsonl" and p.is_file()) or (p / "evalset.toml").is_file()
        )

    def start_eval(
        self,
        evalset: str | None = None,
        items: list[EvalItem] | None = None,
        k: int | None = None,
        limit: int | None = None,
        compare: bool = False,
    ) -> EvalJob:
        """Start an evaluation in the background (one at a time): a named set of RAG_EVALS_DIR, or
        ``items`` given inline (evaluated against the current index). Poll it with ``eval_job``.

        Questions are checked before the run starts: a bad inline item refuses the request (nothing
        is computed for nothing); in a named set, a bad question is left out and reported in the job's
        ``errors`` while the others are evaluated."""
        if (evalset is None) == (items is None):
            raise InvalidQuestion("give either an eval set name or inline items, not both")
        if evalset is not None and evalset not in self.evalsets():
            raise NotFound(f"no eval set '{evalset}' in {self.settings.evals_dir}; available: {self.evalsets()}")
        if items is not None and not items:
            raise InvalidQuestion("the inline eval set has no items")
        corpus: Path | None = None
        if items is not None:
            bad = self._bad_questions(items[:limit] if limit else items)
            if bad:
                listed = "; ".join(f"{e['id']}: {e['error']}" for e in bad[:5])
                more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
                raise InvalidEvalSet(f"{len(bad)} of the inline items cannot be asked: {listed}{more}")
            name = "inline"
        else:
            try:
                spec = load_evalset(self.settings.evals_dir / evalset)  # type: ignore[operator]
            except (OSError, ValueError) as exc:
                raise InvalidEvalSet(f"the eval set '{evalset}' cannot be read: {exc}") from exc
            asked = spec.items[:limit] if limit else spec.items
            bad = self._bad_questions(asked)
            if len(bad) == len(asked):
                raise InvalidEvalSet(f"no question of '{evalset}' can be asked: {bad[0]['id']}: {bad[0]['error']}")
            if bad:  # run the others (from a copy of the set without them), report the bad ones
                left_out = {e["id"] for e in bad}
                items, corpus, limit = [i for i in asked if i.id not in left_out], spec.corpus, None
            name = evalset  # type: ignore[assignment]
        with self._jobs_lock:
            running = next((j for j in self._jobs.values() if j.status == "running"), None)
            if running is not None:
                raise Conflict(f"evaluation {running.id} is still running ({running.done}/{running.total})")
            job = EvalJob(id=uuid.uuid4().hex[:12], evalset=name, errors=bad)
            self._jobs[job.id] = job
        out = self._eval_root() / job.id
        if items is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{Path(name).stem}.jsonl"  # the set's name, as reports show it
            path.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
        else:
            path = self.settings.evals_dir / evalset  # type: ignore[operator]
        args = (job, path, corpus, out, k, limit, compare)
        threading.Thread(target=self._run_eval, args=args, name=f"eval-{job.id}", daemon=True).start()
        return job

    def _bad_questions(self, items: list[EvalItem]) -> list[dict[str, str]]:
        """Items whose question this server would refuse (empty, over RAG_MAX_QUESTION_CHARS)."""
        bad = []
        for item in items:
            try:
                validate_question(item.question, self.settings)
            except InvalidQuestion as exc:
                bad.append({"id": item.id, "error": str(exc)})
        return bad

    def eval_job(self, job_id: str) -> EvalJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no evaluation with id '{job_id}'")
        return job

    def cancel_eval(self, job_id: str) -> EvalJob:
        """Ask a running evaluation to stop: it does before its next question, then reads "cancelled"."""
        with self._jobs_lock:
            job = self.eval_job(job_id)
            if job.status != "running":
                raise Conflict(f"evaluation {job_id} is {job.status}: nothing to cancel")
            self._cancelled.add(job_id)
            job.stage = "cancelling"
        return job

    def eval_report(self, job_id: str) -> Any:
        """The full ``EvalReport`` of a finished job (records included)."""
        job = self.eval_job(job_id)
        if job.status != "done":
            raise Conflict(f"evaluation {job_id} is {job.status}, no report")
        return self._reports[job_id]

    def _eval_root(self) -> Path:
        return self.settings.data_dir / "evals"

    def _run_eval(
        self,
        job: EvalJob,
        path: Path,
        corpus: Path | None,
        out: Path,
        k: int | None,
        limit: int | None,
        compare: bool,
    ) -> None:
        from rag.evaluate import run_evaluation
        from rag.reports import metrics_table

        def progress(done: int, total: int, stage: str) -> None:
            # Called before the run and after each question: the place to stop a cancelled job.
            if job.id in self._cancelled:
                raise EvalCancelled(f"evaluation {job.id} cancelled after {done} of {total} questions")
            job.done, job.total, job.stage = done, total, stage

        t0 = time.perf_counter()
        try:
            report = run_evaluation(
                self.settings, path, corpus=corpus, k=k, limit=limit, compare=compare, out=out, progress=progress
            )
            self._reports[job.id] = report
            job.results = [{"name": r.name, "metrics": r.metrics.flat()} for r in report.results]
            job.table = metrics_table(report)
            job.status = "done"
        except EvalCancelled as exc:
            log.info("%s", exc)
            job.status, job.stage = "cancelled", ""
        except Exception as exc:  # the job reports it; the server goes on
            log.exception("evaluation %s failed", job.id)
            job.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            job.status = "failed"
        job.seconds = round(time.perf_counter() - t0, 1)
        self._forget_old_jobs()

    def _forget_old_jobs(self) -> None:
        """Keep the last KEEP_EVAL_JOBS finished jobs, their reports and output folders; drop the rest
        (each report holds every record of its run: without a bound they only grow)."""
        with self._jobs_lock:
            self._cancelled &= {i for i, j in self._jobs.items() if j.status == "running"}
            finished = [i for i, j in self._jobs.items() if j.status != "running"]  # in start order
            for job_id in finished[:-KEEP_EVAL_JOBS]:
                del self._jobs[job_id]
                self._reports.pop(job_id, None)
            keep = set(self._jobs)
        root = self._eval_root()
        if not root.is_dir():
            return
        # Output folders: the newest KEEP_EVAL_JOBS (and those of jobs still listed) stay, whoever wrote
        # them (a restarted server, or another process sharing the data folder).
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in folders[KEEP_EVAL_JOBS:]:
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
