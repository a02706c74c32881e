"""Run an eval set (JSONL) through the answering engine and score answers, citations and abstention."""

from __future__ import annotations

import json
import re
import statistics
import string
from pathlib import Path

from pydantic import BaseModel
from tqdm import tqdm

from rag.answer import QAEngine
from rag.schema import Answer, Citation


class EvalItem(BaseModel):
    id: str
    question: str
    answers: list[str] = []
    evidence: list[str] = []

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


class EvalRecord(BaseModel):
    id: str
    question: str
    gold: list[str]
    answer: str
    abstained: bool
    citations: list[Citation]
    correct: bool
    supported: bool
    latency_ms: float


class EvalSummary(BaseModel):
    questions: int
    answerable: int
    unanswerable: int
    accuracy: float  # answerable: gold answer in the answer, not abstained
    accuracy_cited: float  # ... and a cited passage holds the gold evidence
    abstention_recall: float  # unanswerable: abstained
    false_abstention_rate: float  # answerable: abstained
    latency_p50_ms: float
    latency_p95_ms: float


def load_evalset(path: Path) -> list[EvalItem]:
    items = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                items.append(EvalItem.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{i}: not a valid eval item: {exc}") from exc
    return items


def normalize(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().replace("-", " ")
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(prediction: str, golds: list[str]) -> bool:
    pred = f" {normalize(prediction)} "
    return any(f" {normalize(g)} " in pred for g in golds if normalize(g))


def cites_evidence(citations: list[Citation], evidence: list[str]) -> bool:
    """A cited passage contains a gold evidence quote, or the quote contains the passage (long quotes)."""
    for c in citations:
        passage = normalize(c.text)
        for quote in evidence:
            q = normalize(quote)
            if q and (q in passage or passage in q):
                return True
    return False


def score(item: EvalItem, answer: Answer) -> EvalRecord:
    correct = item.answerable and not answer.abstained and contains_answer(answer.answer, item.answers)
    supported = correct and (not item.evidence or cites_evidence(answer.citations, item.evidence))
    return EvalRecord(
        id=item.id,
        question=item.question,
        gold=item.answers,
        answer=answer.answer,
        abstained=answer.abstained,
        citations=answer.citations,
        correct=correct,
        supported=supported,
        latency_ms=answer.timings_ms.get("total", 0.0),
    )


def summarize(records: list[EvalRecord]) -> EvalSummary:
    ans = [r for r in records if r.gold]
    una = [r for r in records if not r.gold]
    lat = sorted(r.latency_ms for r in records) or [0.0]
    return EvalSummary(
        questions=len(records),
        answerable=len(ans),
        unanswerable=len(una),
        accuracy=_rate(sum(r.correct for r in ans), len(ans)),
        accuracy_cited=_rate(sum(r.supported for r in ans), len(ans)),
        abstention_recall=_rate(sum(r.abstained for r in una), len(una)),
        false_abstention_rate=_rate(sum(r.abstained for r in ans), len(ans)),
        latency_p50_ms=round(statistics.median(lat), 1),
        latency_p95_ms=round(lat[min(len(lat) - 1, int(0.95 * len(lat)))], 1),
    )


def run_eval(
    engine: QAEngine, items: list[EvalItem], progress: bool | None = None
) -> tuple[EvalSummary, list[EvalRecord]]:
    records = [
        score(item, engine.ask(item.question))
        for item in tqdm(items, desc="eval", unit="q", disable=None if progress is None else not progress)
    ]
    return summarize(records), records


def write_records(records: list[EvalRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r.model_dump()) + "\n")


def _rate(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0
