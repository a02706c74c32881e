"""Run an eval set through the bot (and, with ``compare``, through the baselines) and collect metrics.

``run_evaluation`` is the one entry point the CLI, the API and the web UI share. Every configuration
answers with the same generator; a generation already made for the identical prompt (same question,
same passages) is reused rather than recomputed, and such answers are left out of the latency figures.
"""

from __future__ import annotations

import logging
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from rag.answer import QAEngine
from rag.chunking import sha256
from rag.config import Settings, collection_for
from rag.embeddings import get_embedder
from rag.errors import BadRequest, MissingFile
from rag.evalset import EvalItem, load_evalset
from rag.factory import answer_policy, build_generator, build_ingestor, build_retriever, build_store
from rag.generate import Confidence, Generator, format_passages
from rag.generators import model_name
from rag.naive import TOP_K as naive_top_k
from rag.naive import NaiveChain
from rag.schema import Answer, ScoredChunk, Turn
from rag.scoring import (
    RETRIEVAL_CUTOFFS,
    ConfigResult,
    EvalRecord,
    EvalReport,
    Retrieved,
    RunConfig,
    score,
    summarize,
)
from rag.verify import MIN_SUPPORT

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
"""Called as ``progress(done, total, label)`` while a run goes on."""

CONFIGURATIONS = {
    "hybrid": "the chain: dense + BM25 fused (RRF), sentence focusing, abstention and citation checks",
    "dense": "the same chain with dense retrieval only",
    "bm25": "the same chain with BM25 retrieval only",
    "naive": "baseline: 1000/200-char chunks, dense top-4, plain prompt, no abstention logic, no checks",
}
BASELINES = ("dense", "bm25", "naive")


@dataclass
class _Target:
    """One configuration under test: how it answers and how it ranks passages."""

    name: str
    ask: Callable[[str], Answer]
    search: Callable[[str, int], list[ScoredChunk]]
    k: int


class _ReusingGenerator:
    """Wraps a generator; an identical (question, passages) prompt is answered from the first time.

    Baselines that retrieve the same passages as the chain would otherwise pay again for a generation
    already made, the slowest step of an answer (bench/results/answers.json); the local model is
    deterministic at temperature 0, so the answer is the same.
    """

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.reused = 0
        self._seen: dict[tuple[str, str], list[str | Confidence]] = {}

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Confidence]:
        key = (question, format_passages(passages))
        if key in self._seen:
            self.reused += 1
            yield from self._seen[key]
            return
        events: list[str | Confidence] = []
        for event in self.inner.stream(question, passages):
            events.append(event)
            yield event
        self._seen[key] = events

    def judge(self, question: str, texts: list[str]) -> float | None:
        return self.inner.judge(question, texts)

    def rewrite(self, question: str, history: list[Turn]) -> str:
        return self.inner.rewrite(question, history)

    def questions(self, passage: str, n: int) -> list[str]:
        return self.inner.questions(passage, n)


def eval_settings(settings: Settings, corpus: Path) -> Settings:
    """Settings for an eval set's own corpus: its own collection, so the default index is untouched."""
    corpus = corpus.resolve()
    if not corpus.is_dir():
        raise MissingFile(f"corpus folder not found: {corpus}")
    collection = f"eval-{collection_for(corpus)}-{sha256(str(corpus))[:8]}"
    return settings.model_copy(update={"corpus_dir": corpus, "collection": collection})


def run_evaluation(
    settings: Settings,
    evalset: Path,
    *,
    corpus: Path | None = None,
    k: int | None = None,
    limit: int | None = None,
    split: str | None = None,
    compare: bool | Sequence[str] = False,
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Run an eval set (JSONL or manifest) and return the metrics of each configuration.

    ``corpus`` (or the manifest's corpus) is indexed incrementally into a collection of its own; without
    one, the current index is evaluated. ``compare`` adds dense-only, BM25-only and the naive chain
    (``True``), or the named ones of them. ``split`` keeps one split's questions (``dev`` or ``test``).
    Nothing is written: the caller writes the report files if it wants them (``rag.reports.write_reports``).
    """
    t0 = time.perf_counter()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    baselines = _baselines(compare)
    spec = load_evalset(evalset)
    if split:
        spec = spec.only(split)
    items = spec.items[:limit] if limit else spec.items
    if k:
        settings = settings.model_copy(update={"top_k": k})
    corpus = corpus or spec.corpus
    notify = progress or (lambda done, total, label: None)
    if corpus:
        settings = eval_settings(settings, corpus)
        notify(0, len(items), f"indexing {settings.corpus_dir.name}")
        build_ingestor(settings).run([settings.corpus_dir], progress=False)
    store = build_store(settings)
    store.require_index()

    generator = _ReusingGenerator(build_generator(settings))
    targets = _targets(settings, generator, baselines)
    total = len(items) * len(targets)
    cutoffs = tuple(sorted({*RETRIEVAL_CUTOFFS, *(t.k for t in targets)}))  # the same rows for every column
    records: list[EvalRecord] = []
    results: list[ConfigResult] = []
    for target in targets:
        t, reused = time.perf_counter(), generator.reused
        target.search(items[0].question, target.k)  # builds the BM25 index outside the timings
        mine = []
        for item in items:
            mine.append(_run_one(target, item, generator, max(cutoffs)))
            notify(len(records) + len(mine), total, f"{target.name} {item.id}")
        records += mine
        results.append(
            ConfigResult(
                name=target.name,
                description=CONFIGURATIONS[target.name],
                metrics=summarize(mine, target.k, cutoffs),
                seconds=round(time.perf_counter() - t, 1),
                reused=generator.reused - reused,
            )
        )
    report = EvalReport(
        config=_run_config(settings, spec.name, spec.path, len(items), started),
        results=results,
        records=records,
        seconds=round(time.perf_counter() - t0, 1),
    )
    return report


def _baselines(compare: bool | Sequence[str]) -> list[str]:
    chosen = list(BASELINES) if compare is True else list(compare or [])
    if unknown := set(chosen) - set(BASELINES):
        raise BadRequest(f"unknown baseline {', '.join(sorted(unknown))}; choose from {', '.join(BASELINES)}")
    return chosen


def _targets(settings: Settings, generator: _ReusingGenerator, baselines: list[str]) -> list[_Target]:
    store = build_store(settings)
    targets = []
    for mode in ["hybrid", *(b for b in BASELINES if b in baselines and b != "naive")]:
        engine = QAEngine(build_retriever(settings, store, mode), generator, answer_policy(settings))
        targets.append(_Target(mode, engine.ask, engine.retriever.search, settings.top_k))
    if "naive" in baselines:
        naive = NaiveChain.indexed(settings, get_embedder(settings.embedding_model), settings.corpus_dir, False)
        targets.append(_Target("naive", naive.ask, naive.search, naive_top_k))
    return targets


def _run_one(target: _Target, item: EvalItem, generator: _ReusingGenerator, depth: int) -> EvalRecord:
    t = time.perf_counter()
    ranked = target.search(item.question, depth)
    retrieval_ms = round((time.perf_counter() - t) * 1000, 1)
    ranking = [
        Retrieved(
            source=p.chunk.source, chunk_id=p.chunk.id, support=sorted(item.supported_by(p.chunk.text, p.chunk.source))
        )
        for p in ranked
    ]
    before = generator.reused
    answer = target.ask(item.question)
    return score(target.name, item, answer, ranking, retrieval_ms, cached=generator.reused > before)


def _run_config(settings: Settings, name: str, path: Path, questions: int, started: str) -> RunConfig:
    commit, dirty = _git_state()
    return RunConfig(
        evalset=name,
        evalset_path=str(path),
        corpus=str(settings.corpus_dir),
        collection=settings.collection_name,
        questions=questions,
        llm=settings.llm,
        llm_model=model_name(settings),
        embedding_model=get_embedder(settings.embedding_model).name,
        k=settings.top_k,
        fetch_k=settings.fetch_k,
        max_sentences=settings.max_sentences,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        min_score=settings.min_score,
        min_support=MIN_SUPPORT,
        decline_threshold=settings.decline_threshold,
        judge_threshold=settings.judge_threshold,
        extractive_min_score=settings.extractive_min_score,
        git_commit=commit,
        git_dirty=dirty,
        started_at=started,
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
    )


def _git_state() -> tuple[str | None, bool | None]:
    """The commit of the code under test and whether it had uncommitted changes (None outside git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if head.returncode != 0:
        return None, None
    return head.stdout.strip(), bool(status.stdout.strip())


class ProgressBar:
    """A terminal progress bar fed by ``run_evaluation``'s progress callback (shown only on a terminal)."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None  # type: ignore[type-arg]

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, unit="q", disable=None)
        self._bar.total = total
        self._bar.set_description(label, refresh=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
