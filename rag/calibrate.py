"""Calibrate the answer checks on the user's own documents: ``rag calibrate``.

The decline threshold (``RAG_DECLINE_THRESHOLD``), the minimum passage score (``RAG_MIN_SCORE``) and
the judge's threshold (``RAG_JUDGE_THRESHOLD``) were chosen on this project's eval sets. How well they
separate answerable from unanswerable questions depends on the documents, so this module measures
them on the user's corpus instead:

1. **Answerable questions.** Passages are sampled across the documents (round robin over the files,
   evenly spaced within each) and the generator writes a question each passage answers
   (``Generator.questions``). The source passage of every question is remembered.
2. **Unanswerable questions, by deletion.** The same question is asked again while the retriever
   cannot see its source passage, nor any chunk that overlaps that passage's span in the same file
   (neighbouring chunks share ``RAG_CHUNK_OVERLAP`` characters with it). The subject stays in the
   corpus (the rest of the file still talks about it) but the fact is gone: the near miss that is
   hardest to decline, and the one the decline threshold exists for. Nothing is deleted from the
   index: ``DeletionRetriever`` filters the hidden chunks out of both candidate lists (dense and
   BM25) before fusion, so retrieval is what it would be had the passage never been written (BM25's
   term statistics still count it: a negligible difference). The check for questions about another
   subject still looks words up in the whole corpus: a real near miss uses the corpus's words, and
   words that happened to occur only in the hidden passage would otherwise make the question look
   off-subject (on the default article, half of them were declined that way: a measure of the
   deletion, not of the checks). A fact the documents state twice stays answerable after deletion; such
   questions count as unanswerable answered and make the choice somewhat stricter than needed.
3. **Measurement.** Each question goes once through the real chain with the decline gate off
   (``decline_threshold=1.0``), and the signals the chain already computes are kept: the best passage
   score, the model's probability of declining, the names the documents never mention, and whether
   (and why) the final answer abstained. Every other check is independent of the two thresholds, so
   the outcome at any (decline threshold, min score >= the measured one) is replayed exactly from
   these signals (``answered``), without asking again. The judge is asked about every draft that passes
   the other checks but declines none (its threshold is ``JUDGE_FLOOR`` while measuring), and its
   probability of "yes" is kept, so its threshold is replayed too: a third axis of the grid. (With
   ``RAG_JUDGE_THRESHOLD`` set explicitly, 0 = off included, it is measured and kept at that value.)
4. **Choice.** The questions are split by passage into a fitting half and a held-out half. On the
   fitting half, over a grid of the three thresholds, the setting is chosen that answers at most ``target``
   of the unanswerable questions and as many answerable ones as possible (``choose``). The held-out
   half's rates at that setting are reported, never used to choose: they say what to expect.
5. **Storage.** The result is written beside the index (``RAG_DATA_DIR/calibration-<collection>.json``)
   with the index version it was made on, and engines built for the same generator use it, unless
   ``RAG_DECLINE_THRESHOLD`` / ``RAG_MIN_SCORE`` / ``RAG_JUDGE_THRESHOLD`` are set explicitly
   (``rag.calibration``). A calibration made on an earlier version of the index is still used,
   flagged ``stale``.

Generated questions and per-question signals are cached (``calibration-<collection>.cache.json``), so
a re-run after an interruption, or with another target, asks the generator nothing it asked before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from tqdm import tqdm

from rag.answer import QAEngine
from rag.calibration import CALIBRATED, Calibration, DefaultRates, Rates, Tradeoff, calibration_path
from rag.config import Settings
from rag.embeddings import get_embedder
from rag.errors import RagError
from rag.factory import answer_policy, build_generator, build_store
from rag.generators import GENERATORS, generator_kind, model_name
from rag.retrieve import HybridRetriever, _BM25Index
from rag.schema import Chunk
from rag.store import Store

log = logging.getLogger(__name__)

DEFAULT_TARGET = 0.05
DEFAULT_PASSAGES = 30
# Decline thresholds tried (1.0: the gate is off). Log-spaced: the model's decline probabilities of
# answerable questions crowd near 0.
DECLINE_GRID = (0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1.0)
# Judge thresholds tried: the judge declines when its probability of "yes" is below this. 0.5 is the
# built-in one ("no" outweighs "yes"); stricter settings ask for a clearer "yes".
JUDGE_GRID = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)
# While measuring, the judge is asked (a threshold above 0) but declines only a "yes" below this, which
# every setting of the grid declines too: the replay stays exact.
JUDGE_FLOOR = 1e-6
# Minimum passage scores tried, above the configured one (a lower one cannot be replayed: questions
# below the configured score were declined without generating).
MIN_SCORE_STEPS = (0.0, 0.05, 0.1, 0.15, 0.2)
# Targets whose choice is shown beside the one asked for: with a small model a strict target can cost
# most answers, and the user should see what a looser one would keep (a re-run with it asks nothing).
TRADEOFF_TARGETS = (0.05, 0.1, 0.2, 0.3)
# A passage shorter than this (a heading, a caption) rarely holds a fact worth a question.
MIN_PASSAGE_WORDS = 12
# Questions written per passage at most (the generator writes three in one go): a corpus with fewer
# usable passages than asked for still gives about as many questions.
MAX_QUESTIONS_PER_PASSAGE = 3


# --- the measured signals, and their replay ---
class Signal(BaseModel):
    """What the chain measured for one question (asked with the decline gate off)."""

    chunk_id: str = Field(description="The passage the question was written from.")
    question: str
    answerable: bool = Field(description="False: asked while that passage (and its overlaps) was hidden.")
    best_score: float
    decline_prob: float | None = Field(None, description="The local model's probability of declining.")
    judge_prob: float | None = Field(None, description="The judge's probability of yes (None: not asked).")
    not_in_documents: list[str] = []
    abstained: bool
    abstain_reason: str | None = None
    cites_source: bool = Field(False, description="An answer that cites the passage the question came from.")
    answer: str = ""


def answered(signal: Signal, decline_threshold: float, min_score: float, judge_threshold: float = 0.0) -> bool:
    """Whether the chain would answer this question at these thresholds (``QAEngine.stream``'s order:
    an abstention for any other reason stays one; a best passage below ``min_score`` is declined; the
    decline gate abstains at ``decline_prob >= decline_threshold``; the judge at ``judge_prob <
    judge_threshold``)."""
    if signal.abstained or signal.best_score < min_score:
        return False
    if signal.decline_prob is not None and signal.decline_prob >= decline_threshold:
        return False
    return signal.judge_prob is None or signal.judge_prob >= judge_threshold


def rates(signals: Iterable[Signal], decline_threshold: float, min_score: float, judge_threshold: float = 0.0) -> Rates:
    counts: Counter[tuple[bool, bool]] = Counter(
        (s.answerable, answered(s, decline_threshold, min_score, judge_threshold)) for s in signals
    )
    a = counts[True, True] + counts[True, False]
    u = counts[False, True] + counts[False, False]
    return Rates(
        answerable=a,
        answerable_answered=counts[True, True],
        unanswerable=u,
        unanswerable_answered=counts[False, True],
        answered_answerable=round(counts[True, True] / a, 4) if a else 0.0,
        answered_unanswerable=round(counts[False, True] / u, 4) if u else 0.0,
    )


class Choice(BaseModel):
    decline_threshold: float
    min_score: float
    judge_threshold: float = 0.0
    fit: Rates
    target_met: bool
    note: str


def choose(
    signals: Sequence[Signal],
    target: float,
    decline_grid: Sequence[float] = DECLINE_GRID,
    min_score_grid: Sequence[float] = (0.2,),
    judge_grid: Sequence[float] = (0.0,),
    judge_default: float = 0.0,
) -> Choice:
    """The setting of the grid that answers at most ``target`` of the unanswerable questions and, among
    those, the most answerable ones.

    A setting that answers none of the answerable questions is never chosen: it meets any target by
    turning the bot off. When no other setting meets the target, the one closest to it is chosen
    (the fewest unanswerable questions answered, then the most answerable ones), and the note says so.
    Ties go to the lowest min score (the check that also declines questions with no near passage at
    all is changed least), then to the judge threshold nearest ``judge_default`` (the configured one:
    changed least), then to the middle of the tied decline thresholds: the one furthest from the
    fitting questions on both sides.
    """
    if not signals:
        raise RagError("no questions to calibrate on")
    ts, ms, js = sorted(set(decline_grid)), sorted(set(min_score_grid)), sorted(set(judge_grid))
    table = [(t, m, j, rates(signals, t, m, j)) for j in js for m in ms for t in ts]
    useful = [row for row in table if row[3].answerable_answered] or table
    feasible = [row for row in useful if row[3].answered_unanswerable <= target + 1e-12]

    def rank(row: tuple[float, float, float, Rates]) -> tuple[int, int, float, float]:
        _, m, j, r = row
        if feasible:
            return (r.answerable_answered, -r.unanswerable_answered, -m, -abs(j - judge_default))
        return (-r.unanswerable_answered, r.answerable_answered, -m, -abs(j - judge_default))

    rows = feasible or useful
    best = max(rows, key=rank)
    tied = [row[0] for row in rows if row[1:3] == best[1:3] and rank(row) == rank(best)]
    t, m, j = tied[(len(tied) - 1) // 2], best[1], best[2]  # the lower middle; ``tied`` is sorted, contiguous
    fit = rates(signals, t, m, j)
    counts = (
        f"{fit.unanswerable_answered} of {fit.unanswerable} unanswerable and "
        f"{fit.answerable_answered} of {fit.answerable} answerable questions answered"
    )
    if feasible:
        note = f"fitting half: {counts}"
    else:
        judge = f", judge threshold {j:g}" if len(js) > 1 else ""
        note = (
            f"no setting answers at most {target:.0%} of the unanswerable questions of the fitting half and "
            f"some answerable ones; the closest (decline threshold {t:g}, min score {m:g}{judge}): {counts}. "
            "A stronger generator (RAG_LLM=openai or ollama) is the lever."
        )
    return Choice(decline_threshold=t, min_score=m, judge_threshold=j, fit=fit, target_met=bool(feasible), note=note)


def split_halves(chunk_ids: Iterable[str]) -> tuple[set[str], set[str]]:
    """Passages into a fitting and a held-out half: alternately, in an order fixed by their ids (so a
    passage stays in its half whatever else is sampled), the extra one to the fitting half."""
    ordered = sorted(set(chunk_ids), key=lambda cid: hashlib.sha256(cid.encode()).hexdigest())
    return set(ordered[0::2]), set(ordered[1::2])


# --- sampling passages ---
def _spread(n: int) -> list[int]:
    """0..n-1 in an order whose every prefix is spread evenly over the range (van der Corput)."""
    order: list[int] = []
    seen: set[int] = set()
    k = 1
    while len(order) < n:
        f, denom, j = 0.0, 1.0, k
        while j:  # k's binary digits reversed behind the point: 1/2, 1/4, 3/4, 1/8, 5/8 ...
            denom *= 2
            f += (j & 1) / denom
            j >>= 1
        i = int(f * n)
        if i not in seen:
            seen.add(i)
            order.append(i)
        k += 1
    return order


def passage_order(chunks: Iterable[Chunk]) -> list[Chunk]:
    """Usable passages in the order to sample them: round robin over the documents, and within each
    document evenly spread (the first N of the list cover every part of every document)."""
    by_source: dict[str, list[Chunk]] = {}
    for chunk in sorted(chunks, key=lambda c: (c.source, c.start, c.id)):
        if len(chunk.text.split()) >= MIN_PASSAGE_WORDS:
            by_source.setdefault(chunk.source, []).append(chunk)
    queues = [[group[i] for i in _spread(len(group))] for group in by_source.values()]
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def overlapping(chunk: Chunk, chunks: Iterable[Chunk]) -> set[str]:
    """The ids of ``chunk`` and of every chunk of the same file whose span overlaps its span."""
    return {chunk.id} | {
        c.id for c in chunks if c.source == chunk.source and c.start < chunk.end and c.end > chunk.start
    }


# --- the chain without some passages ---
class HidingStore(Store):
    """The index as if some chunks were not in it: a dense search never returns them (it asks Chroma
    for as many more as are hidden, so it still gives ``n`` when it can). Shares the store's client."""

    def __init__(self, store: Store) -> None:
        client = store.client  # connected now, as the store it hides from
        super().__init__(store.name, lambda: client, store.url)
        self.hidden: frozenset[str] = frozenset()

    def dense(self, query_embedding: Any, n: int) -> list[tuple[Chunk, float]]:
        if not self.hidden:
            return super().dense(query_embedding, n)
        found = super().dense(query_embedding, n + len(self.hidden))
        return [(c, s) for c, s in found if c.id not in self.hidden][:n]


class _HidingBM25(_BM25Index):
    """A view of a BM25 index that never returns the hidden chunks (the index itself is shared)."""

    def __init__(self, inner: _BM25Index, hidden: frozenset[str]) -> None:  # no index to build: a view
        self.inner, self.hidden = inner, hidden
        self.chunks, self.retriever, self.vocabulary = inner.chunks, inner.retriever, inner.vocabulary

    def search(self, query: str, n: int) -> list[tuple[Chunk, float]]:
        found = self.inner.search(query, n + len(self.hidden))
        return [(c, s) for c, s in found if c.id not in self.hidden][:n]


class DeletionRetriever(HybridRetriever):
    """``HybridRetriever`` over a ``HidingStore``: the chunks ``hide`` names are left out of the dense
    and BM25 candidates before fusion, as if they had never been indexed (the vocabulary of the
    subject check stays the whole corpus's). ``hide([])`` shows everything again."""

    store: HidingStore

    def hide(self, chunk_ids: Iterable[str]) -> None:
        self.store.hidden = frozenset(chunk_ids)

    def _bm25_index(self) -> _BM25Index:
        index = super()._bm25_index()
        return _HidingBM25(index, self.store.hidden) if self.store.hidden else index


def _cache_path(settings: Settings, collection: str) -> Path:
    return settings.data_dir / f"calibration-{collection}.cache.json"


def _write_json(path: Path, data: Any) -> None:
    """Atomically: a run killed mid-write leaves the previous file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Decision(BaseModel):
    choice: Choice = Field(description="Chosen on the fitting half.")
    held_out: Rates = Field(description="The held-out half at the chosen setting.")
    before: DefaultRates
    tradeoffs: list[Tradeoff] = []
    note: str


def decide(
    signals: Sequence[Signal], fit_ids: set[str], target: float, settings: Settings, sweep_min_score: bool = True
) -> Decision:
    """Choose on the questions of the passages in ``fit_ids``; the others are only reported.

    The grid: every decline threshold of ``DECLINE_GRID`` (none when no decline probability was
    measured: a remote generator), min scores from the configured one up, and every judge threshold
    of ``JUDGE_GRID`` (none when the judge was not asked). A threshold set explicitly in ``settings``
    would win over the calibration, so it stays fixed at its value.
    """
    fit = [s for s in signals if s.chunk_id in fit_ids]
    held = [s for s in signals if s.chunk_id not in fit_ids]
    base_t, base_m, base_j = settings.decline_threshold, settings.min_score, settings.judge_threshold
    explicit = settings.model_fields_set & set(CALIBRATED)
    decline_grid = [base_t]
    if any(s.decline_prob is not None for s in signals) and "decline_threshold" not in explicit:
        decline_grid = sorted({*DECLINE_GRID, base_t})
    min_grid = [base_m]
    if sweep_min_score and "min_score" not in explicit:
        min_grid = sorted({round(min(1.0, base_m + step), 4) for step in MIN_SCORE_STEPS})
    judge_grid = [base_j]
    if any(s.judge_prob is not None for s in signals) and "judge_threshold" not in explicit:
        judge_grid = sorted({*JUDGE_GRID, base_j})
    choice = choose(fit, target, decline_grid, min_grid, judge_grid, judge_default=base_j)
    held_rates = rates(held, choice.decline_threshold, choice.min_score, choice.judge_threshold)
    tradeoffs = []
    for other in sorted({*TRADEOFF_TARGETS, target}):
        c = choose(fit, other, decline_grid, min_grid, judge_grid, judge_default=base_j)
        on_held = rates(held, c.decline_threshold, c.min_score, c.judge_threshold)
        tradeoffs.append(Tradeoff(target=other, held_out=on_held, **c.model_dump(exclude={"note"})))
    before = DefaultRates(
        decline_threshold=base_t,
        min_score=base_m,
        judge_threshold=base_j,
        fit=rates(fit, base_t, base_m, base_j),
        held_out=rates(held, base_t, base_m, base_j),
    )
    note = choice.note
    if choice.target_met and held_rates.answered_unanswerable > target:
        note += (
            f"; the held-out half answers {held_rates.answered_unanswerable:.0%} of its unanswerable questions, "
            f"above the target: with {held_rates.unanswerable} questions a half is a rough estimate "
            "(--passages N for more)"
        )
    if choice.fit.answered_answerable < before.fit.answered_answerable / 2:
        # Said, not prevented: the target is the user's; what it costs must be plain.
        note += (
            f"; this answers {choice.fit.answered_answerable:.0%} of the answerable questions, where the current "
            f"settings answer {before.fit.answered_answerable:.0%}: a looser --target keeps more (the other targets)"
        )
    if explicit:
        note += f"; {', '.join('RAG_' + k.upper() for k in sorted(explicit))} set explicitly: kept, and it wins"
    return Decision(choice=choice, held_out=held_rates, before=before, tradeoffs=tradeoffs, note=note)


# --- the run ---
class _Cache:
    """Questions per (generator, passage) and signals per (index version, measurement, passage, kind),
    written after every step so an interrupted run loses at most one."""

    def __init__(self, path: Path, version: str) -> None:
        self.path = path
        self.version = version
        data: dict[str, Any] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("calibration cache %s unreadable: starting afresh", path)
        self.questions: dict[str, list[str]] = data.get("questions", {})
        # Signals depend on the whole index: those of another version are dropped.
        self.signals: dict[str, dict[str, Any]] = data.get("signals", {}) if data.get("version") == version else {}

    def save(self, keep_chunks: set[str]) -> None:
        questions = {k: v for k, v in self.questions.items() if k.rsplit(":", 1)[-1] in keep_chunks}
        _write_json(self.path, {"version": self.version, "questions": questions, "signals": self.signals})


def _measurement_key(settings: Settings) -> tuple[str, dict[str, Any]]:
    """What a signal depends on besides the index and the question."""
    spec = {
        "llm": settings.llm,
        "model": model_name(settings),
        "top_k": settings.top_k,
        "fetch_k": settings.fetch_k,
        "max_sentences": settings.max_sentences,
        "min_score": settings.min_score,
        "judge_threshold": settings.judge_threshold,
        "check_names": settings.check_names,
        "max_tokens": settings.max_tokens,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12], spec


def run_calibration(
    settings: Settings,
    target: float = DEFAULT_TARGET,
    passages: int = DEFAULT_PASSAGES,
    sweep_min_score: bool = True,
    progress: bool = True,
) -> Calibration:
    """Measure the checks on the settings' collection, choose the thresholds, store and return them.

    ``settings`` are the settings as configured (a stored calibration is not applied to them): the
    measurement runs at their min score, with the decline gate off.
    """
    t0 = time.perf_counter()
    if not 0 <= target <= 1:
        raise RagError(f"the target is a share of questions between 0 and 1, not {target}")
    if passages < 2:
        raise RagError("at least 2 passages are needed: one for each half")
    if not generator_kind(settings.llm).writes:
        writers = " or ".join(k for k, kind in GENERATORS.items() if kind.writes)
        raise RagError(f"the {settings.llm} generator cannot write questions: calibrate with RAG_LLM={writers}")
    store = build_store(settings)
    store.require_index()
    version = store.version()
    chunks = store.all_chunks()
    order = passage_order(chunks)
    if len(order) < 2:
        raise RagError(f"the index has {len(order)} passage(s) of {MIN_PASSAGE_WORDS}+ words: too few to calibrate on")
    per_passage = min(MAX_QUESTIONS_PER_PASSAGE, math.ceil(passages / len(order)))

    # The decline gate and the judge are replayed offline: the gate is off and the judge declines nothing.
    measure = settings.model_copy(update={"decline_threshold": 1.0})
    if "judge_threshold" not in settings.model_fields_set:
        measure = measure.model_copy(update={"judge_threshold": JUDGE_FLOOR})
    key, spec = _measurement_key(measure)
    retriever = DeletionRetriever(
        store=HidingStore(store),
        embedder=get_embedder(settings.embedding_model),
        k=settings.top_k,
        fetch_k=settings.fetch_k,
    )
    engines: list[QAEngine] = []

    def engine() -> QAEngine:
        """Loaded on first need: a re-run that finds everything cached loads no model."""
        if not engines:
            engines.append(QAEngine(retriever, build_generator(settings), answer_policy(measure)))
        return engines[0]

    cache = _Cache(_cache_path(settings, store.name), version)
    keep = {c.id for c in chunks}

    # 1. Questions, from passages in sampling order until enough passages gave one (each passage's
    # questions are cached, even none). All writing first: the local model keeps the answer prompt's
    # prefix ready between answers, and switching prompts back and forth would cost it again.
    chosen: list[tuple[Chunk, list[str]]] = []
    skipped = 0
    seen: set[str] = set()
    bar = tqdm(total=passages, desc="writing questions", unit="passage", disable=not progress or None)
    for chunk in order[: 2 * passages]:
        if len(chosen) == passages:
            break
        qkey = f"{settings.llm}:{model_name(settings)}:{chunk.id}"
        if qkey not in cache.questions:
            cache.questions[qkey] = engine().generator.questions(chunk.text, MAX_QUESTIONS_PER_PASSAGE)
            cache.save(keep)
        questions = [q for q in cache.questions[qkey] if q not in seen][:per_passage]
        if not questions:
            skipped += 1
            continue
        seen.update(questions)
        chosen.append((chunk, questions))
        bar.update(1)
    bar.close()
    if len(chosen) < 2:
        raise RagError(f"the generator wrote usable questions for {len(chosen)} passage(s): too few to calibrate on")

    # 2. Each question twice: with its passage, and with it (and every chunk overlapping it) hidden.
    signals: list[Signal] = []
    total = 2 * sum(len(qs) for _, qs in chosen)
    bar = tqdm(total=total, desc="asking", unit="q", disable=not progress or None)
    for chunk, questions in chosen:
        hidden = overlapping(chunk, chunks)
        for question in questions:
            for answerable in (True, False):
                skey = f"{key}:{chunk.id}:{int(answerable)}:{hashlib.sha256(question.encode()).hexdigest()[:12]}"
                if skey not in cache.signals:
                    retriever.hide([] if answerable else hidden)
                    answer = engine().ask(question)
                    cache.signals[skey] = Signal(
                        chunk_id=chunk.id,
                        question=question,
                        answerable=answerable,
                        best_score=float(answer.checks.get("best_score", 0.0)),
                        decline_prob=answer.checks.get("decline_prob"),
                        judge_prob=answer.checks.get("judge_prob"),
                        not_in_documents=list(answer.checks.get("not_in_documents") or []),
                        abstained=answer.abstained,
                        abstain_reason=answer.abstain_reason,
                        cites_source=any(c.chunk_id in hidden for c in answer.citations),
                        answer=answer.answer,
                    ).model_dump()
                    cache.save(keep)
                signals.append(Signal.model_validate(cache.signals[skey]))
                bar.update(1)
    bar.close()
    retriever.hide([])

    # 3. Choose on the fitting half; report both halves, and the settings it replaces.
    fit_ids, _ = split_halves(c.id for c, _ in chosen)
    decision = decide(signals, fit_ids, target, settings, sweep_min_score)
    choice = decision.choice
    result = Calibration(
        collection=store.name,
        llm=settings.llm,
        model=model_name(settings),
        target=target,
        decline_threshold=choice.decline_threshold,
        min_score=choice.min_score,
        judge_threshold=choice.judge_threshold,
        target_met=choice.target_met,
        note=decision.note,
        fit=choice.fit,
        held_out=decision.held_out,
        before=decision.before,
        tradeoffs=decision.tradeoffs,
        passages=len(chosen),
        skipped_passages=skipped,
        index_version=version,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - t0, 1),
        measured_with={**spec, "decline_threshold": 1.0, "questions_per_passage": per_passage},
    )
    _write_json(calibration_path(settings, store.name), result.model_dump(mode="json", exclude={"stale"}))
    return result
