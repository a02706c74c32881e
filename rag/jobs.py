"""Evaluation jobs run in the background by the server: one at a time, polled, cancellable, bounded."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from pathlib import Path

from rag.answer import validate_question
from rag.config import Settings
from rag.errors import Conflict, EvalCancelled, InvalidEvalSet, InvalidQuestion, NotFound, RagError
from rag.evalset import EvalItem, load_evalset
from rag.evaluate import run_evaluation
from rag.reports import metrics_table, write_reports
from rag.schema import EvalJob
from rag.scoring import EvalReport

# Finished evaluation jobs kept (with their reports and output folders); older ones are forgotten.
KEEP_EVAL_JOBS = 20

log = logging.getLogger(__name__)


class EvalJobs:
    """Eval sets of RAG_EVALS_DIR (or inline items) run against the server's settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jobs: dict[str, EvalJob] = {}
        self._reports: dict[str, EvalReport] = {}
        self._cancelled: set[str] = set()  # running jobs asked to stop
        self._lock = threading.Lock()

    def evalsets(self) -> list[str]:
        """Eval sets in RAG_EVALS_DIR: JSONL files, and folders with an ``evalset.toml`` manifest."""
        folder = self.settings.evals_dir
        if not folder.is_dir():
            return []
        return sorted(
            p.name for p in folder.iterdir() if (p.suffix == ".jsonl" and p.is_file()) or (p / "evalset.toml").is_file()
        )

    def start(
        self,
        evalset: str | None = None,
        items: list[EvalItem] | None = None,
        k: int | None = None,
        limit: int | None = None,
        compare: bool = False,
    ) -> EvalJob:
        """Start an evaluation in the background (one at a time): a named set of RAG_EVALS_DIR, or
        ``items`` given inline (evaluated against the current index). Poll it with ``job``.

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
        elif evalset is not None:
            try:
                spec = load_evalset(self.settings.evals_dir / evalset)
            except (OSError, RagError) as exc:
                raise InvalidEvalSet(f"the eval set '{evalset}' cannot be read: {exc}") from exc
            asked = spec.items[:limit] if limit else spec.items
            bad = self._bad_questions(asked)
            if len(bad) == len(asked):
                raise InvalidEvalSet(f"no question of '{evalset}' can be asked: {bad[0]['id']}: {bad[0]['error']}")
            if bad:  # run the others (from a copy of the set without them), report the bad ones
                left_out = {e["id"] for e in bad}
                items, corpus, limit = [i for i in asked if i.id not in left_out], spec.corpus, None
            name = evalset
        with self._lock:
            running = next((j for j in self._jobs.values() if j.status == "running"), None)
            if running is not None:
                raise Conflict(f"evaluation {running.id} is still running ({running.done}/{running.total})")
            job = EvalJob(id=uuid.uuid4().hex[:12], evalset=name, errors=bad)
            self._jobs[job.id] = job
        out = self._root() / job.id
        if items is not None:
            out.mkdir(parents=True, exist_ok=True)
            path = out / f"{Path(name).stem}.jsonl"  # the set's name, as reports show it
            path.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
        else:
            path = self.settings.evals_dir / name
        args = (job, path, corpus, out, k, limit, compare)
        threading.Thread(target=self._run, args=args, name=f"eval-{job.id}", daemon=True).start()
        return job

    def _bad_questions(self, items: list[EvalItem]) -> list[dict[str, str]]:
        """Items whose question this server would refuse (empty, over RAG_MAX_QUESTION_CHARS)."""
        bad = []
        for item in items:
            try:
                validate_question(item.question, self.settings.max_question_chars)
            except InvalidQuestion as exc:
                bad.append({"id": item.id, "error": str(exc)})
        return bad

    def job(self, job_id: str) -> EvalJob:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no evaluation with id '{job_id}'")
        return job

    def cancel(self, job_id: str) -> EvalJob:
        """Ask a running evaluation to stop: it does before its next question, then reads "cancelled"."""
        with self._lock:
            job = self.job(job_id)
            if job.status != "running":
                raise Conflict(f"evaluation {job_id} is {job.status}: nothing to cancel")
            self._cancelled.add(job_id)
            job.stage = "cancelling"
        return job

    def report(self, job_id: str) -> EvalReport:
        """The full report of a finished job (records included)."""
        job = self.job(job_id)
        if job.status != "done":
            raise Conflict(f"evaluation {job_id} is {job.status}, no report")
        return self._reports[job_id]

    def _root(self) -> Path:
        return self.settings.data_dir / "evals"

    def _run(
        self,
        job: EvalJob,
        path: Path,
        corpus: Path | None,
        out: Path,
        k: int | None,
        limit: int | None,
        compare: bool,
    ) -> None:
        def progress(done: int, total: int, stage: str) -> None:
            # Called before the run and after each question: the place to stop a cancelled job.
            if job.id in self._cancelled:
                raise EvalCancelled(f"evaluation {job.id} cancelled after {done} of {total} questions")
            job.done, job.total, job.stage = done, total, stage

        t0 = time.perf_counter()
        try:
            report = run_evaluation(
                self.settings, path, corpus=corpus, k=k, limit=limit, compare=compare, progress=progress
            )
            write_reports(report, out)
            self._reports[job.id] = report
            job.results = [{"name": r.name, "metrics": r.metrics.flat()} for r in report.results]
            job.table = metrics_table(report)
            job.status = "done"
        except EvalCancelled as exc:
            log.info("%s", exc)
            job.status, job.stage = "cancelled", ""
        except Exception as exc:  # background work: the job reports it (the trace goes to the log)
            log.exception("evaluation %s failed", job.id)
            job.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            job.status = "failed"
        job.seconds = round(time.perf_counter() - t0, 1)
        self._forget_old()

    def _forget_old(self) -> None:
        """Keep the last KEEP_EVAL_JOBS finished jobs, their reports and output folders; drop the rest
        (each report holds every record of its run: without a bound they only grow)."""
        with self._lock:
            self._cancelled &= {i for i, j in self._jobs.items() if j.status == "running"}
            finished = [i for i, j in self._jobs.items() if j.status != "running"]  # in start order
            for job_id in finished[:-KEEP_EVAL_JOBS]:
                del self._jobs[job_id]
                self._reports.pop(job_id, None)
            keep = set(self._jobs)
        root = self._root()
        if not root.is_dir():
            return
        # Output folders: the newest KEEP_EVAL_JOBS (and those of jobs still listed) stay, whoever wrote
        # them (a restarted server, or another process sharing the data folder).
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
        for folder in folders[KEEP_EVAL_JOBS:]:
            if folder.name not in keep:
                shutil.rmtree(folder, ignore_errors=True)
