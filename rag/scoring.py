"""Score one answered question (verdicts per question) and summarise a run (metrics per configuration)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from rag import metrics as m
from rag.citations import strip_markers
from rag.evalset import EvalItem
from rag.schema import Answer, Citation

# Cut-offs of the retrieval metrics besides the chain's own k; MRR looks this deep.
RETRIEVAL_CUTOFFS = (1, 5, 10)


class Retrieved(BaseModel):
    """One passage of a retrieval ranking, with the gold-support units it holds."""

    source: str
    chunk_id: str
    support: list[int] = []


class EvalRecord(BaseModel):
    """One question through one configuration: what the bot said and the verdicts on it."""

    config: str
    id: str
    question: str
    gold: list[str]
    answerable: bool
    answer: str
    abstained: bool
    citations: list[Citation]
    support_units: int = Field(0, description="Gold-support units of the question (quotes or documents).")
    retrieved: list[Retrieved] = Field(default=[], description="The retrieval ranking, best first.")
    kind: str = Field("", description="answerable, unanswerable or out_of_corpus (when the set says).")
    correct: bool = Field(description="Answerable, not abstained, and a gold answer is in the answer.")
    supported: bool = Field(description="Correct, and a cited passage holds the gold support.")
    correct_lenient: bool = Field(False, description="Answerable, not abstained, and the lenient match holds.")
    supported_lenient: bool = Field(False, description="Lenient correct, and a cited passage holds the gold support.")
    abstain_reason: str | None = Field(None, description="Which check declined, when the bot abstained.")
    conflicting: bool = Field(False, description="The answer said its passages disagree.")
    checks: dict[str, Any] = Field(default={}, description="What the answer checks measured.")
    exact_match: bool
    f1: float
    citation_support: list[bool] = Field(default=[], description="Per citation: it holds the gold support.")
    grounded_sentences: int = 0
    sentences: int = 0
    latency_ms: float
    retrieval_ms: float
    cached: bool = Field(False, description="The generation was reused from an identical earlier prompt.")


class Metrics(BaseModel):
    """Every metric of one configuration; ``None`` where the set has nothing to measure it on."""

    questions: int
    answerable: int
    unanswerable: int
    # retrieval, over answerable questions with gold support
    k: int = Field(description="Passages the chain retrieves (RAG_TOP_K or --k).")
    hit: dict[int, float | None] = Field(description="hit@n per cut-off n.")
    recall: dict[int, float | None] = Field(description="recall@n per cut-off n.")
    mrr: float | None
    # answers, over answerable questions
    accuracy: float | None
    accuracy_cited: float | None
    accuracy_lenient: float | None = None
    accuracy_cited_lenient: float | None = None
    exact_match: float | None
    f1: float | None
    false_abstention_rate: float | None
    # abstention, over all questions; the positive class is "unanswerable"
    abstention_precision: float | None
    abstention_recall: float | None
    abstention_f1: float | None
    unanswerable_answered_rate: float | None
    # by kind, where the set marks it: adversarial unanswerables and questions off the corpus
    adversarial_abstained_rate: float | None = None
    out_of_corpus_answered_rate: float | None = None
    # citations, over answered answerable questions
    citation_precision: float | None
    citation_recall: float | None
    # groundedness, over the sentences of every answer given
    groundedness: float | None
    # latency
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    retrieval_p50_ms: float | None
    retrieval_p95_ms: float | None
    timed_questions: int = Field(description="Questions timed end to end (answers reused from a cache are not).")

    def flat(self) -> dict[str, float | int | None]:
        """One name per number ("hit@5", "accuracy", ...), for tables."""
        out: dict[str, float | int | None] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, dict):
                out.update({f"{name}@{n}": v for n, v in value.items()})
            else:
                out[name] = value
        return out


def score(
    config: str,
    item: EvalItem,
    answer: Answer,
    ranking: list[Retrieved],
    retrieval_ms: float,
    cached: bool = False,
) -> EvalRecord:
    text = strip_markers(answer.answer)
    given = not answer.abstained
    correct = item.answerable and given and m.contains_answer(text, item.answers)
    lenient = item.answerable and given and m.lenient_match(text, item.answers, item.question)
    support = [bool(item.supported_by(c.text, c.source)) for c in answer.citations]
    grounded, sentences = (
        m.grounded_sentences(answer.answer, {c.n: c.text for c in answer.citations}) if given else (0, 0)
    )
    return EvalRecord(
        config=config,
        id=item.id,
        question=item.question,
        gold=item.answers,
        answerable=item.answerable,
        answer=answer.answer,
        abstained=answer.abstained,
        citations=answer.citations,
        support_units=item.support_units(),
        retrieved=ranking,
        kind=item.kind or ("answerable" if item.answerable else "unanswerable"),
        correct=correct,
        supported=correct and m.citation_recall(support),
        correct_lenient=lenient,
        supported_lenient=lenient and m.citation_recall(support),
        abstain_reason=answer.abstain_reason,
        conflicting=answer.conflicting,
        checks=answer.checks,
        exact_match=item.answerable and given and m.exact_match(text, item.answers),
        f1=m.token_f1(text, item.answers) if item.answerable and given else 0.0,
        citation_support=support,
        grounded_sentences=grounded,
        sentences=sentences,
        latency_ms=answer.timings_ms.get("total", 0.0),
        retrieval_ms=retrieval_ms,
        cached=cached,
    )


def summarize(records: list[EvalRecord], k: int, cutoffs: tuple[int, ...] = RETRIEVAL_CUTOFFS) -> Metrics:
    """Metrics of one configuration's records (``k``: the passages its chain retrieves).

    Retrieval metrics are given at ``k`` and at each of ``cutoffs``.
    """
    ans = [r for r in records if r.answerable]
    with_support = [r for r in ans if r.support_units]
    answered = [r for r in ans if not r.abstained]
    timed = [r.latency_ms for r in records if not r.cached]
    rankings = {r.id: [set(p.support) for p in r.retrieved] for r in with_support}
    cutoffs = tuple(sorted({k, *cutoffs}))
    precision, recall, f1 = m.precision_recall_f1([not r.answerable for r in records], [r.abstained for r in records])
    unanswerable = [r for r in records if not r.answerable]
    return Metrics(
        questions=len(records),
        answerable=len(ans),
        unanswerable=len(unanswerable),
        k=k,
        hit={n: m.mean([m.hit_at(rankings[r.id], n) for r in with_support]) for n in cutoffs},
        recall={n: m.mean([m.recall_at(rankings[r.id], n, r.support_units) for r in with_support]) for n in cutoffs},
        mrr=m.mean([m.reciprocal_rank(rankings[r.id]) for r in with_support]),
        accuracy=m.mean([r.correct for r in ans]),
        accuracy_cited=m.mean([r.supported for r in ans]),
        accuracy_lenient=m.mean([r.correct_lenient for r in ans]),
        accuracy_cited_lenient=m.mean([r.supported_lenient for r in ans]),
        exact_match=m.mean([r.exact_match for r in ans]),
        f1=m.mean([r.f1 for r in ans]),
        false_abstention_rate=m.mean([r.abstained for r in ans]),
        abstention_precision=precision,
        abstention_recall=recall,
        abstention_f1=f1,
        unanswerable_answered_rate=m.mean([not r.abstained for r in unanswerable]),
        adversarial_abstained_rate=m.mean([r.abstained for r in unanswerable if r.kind == "unanswerable"]),
        out_of_corpus_answered_rate=m.mean([not r.abstained for r in unanswerable if r.kind == "out_of_corpus"]),
        citation_precision=m.mean([m.citation_precision(r.citation_support) for r in answered]),
        citation_recall=m.mean([m.citation_recall(r.citation_support) for r in answered]),
        groundedness=m.ratio(sum(r.grounded_sentences for r in records), sum(r.sentences for r in records)),
        latency_p50_ms=m.percentile(timed, 50),
        latency_p95_ms=m.percentile(timed, 95),
        retrieval_p50_ms=m.percentile([r.retrieval_ms for r in records], 50),
        retrieval_p95_ms=m.percentile([r.retrieval_ms for r in records], 95),
        timed_questions=len(timed),
    )


class RunConfig(BaseModel):
    """What was run, so two reports can be compared knowing what differed."""

    evalset: str
    evalset_path: str
    corpus: str
    collection: str
    questions: int
    llm: str
    llm_model: str
    embedding_model: str
    k: int
    fetch_k: int
    max_sentences: int
    chunk_size: int
    chunk_overlap: int
    min_score: float
    min_support: float
    decline_threshold: float
    judge_threshold: float = 0.0  # reports made before the judge existed ran without it
    extractive_min_score: float
    git_commit: str | None
    git_dirty: bool | None
    started_at: str
    machine: str


class ConfigResult(BaseModel):
    name: str
    description: str
    metrics: Metrics
    seconds: float = Field(description="Wall time of this configuration's questions.")
    reused: int = Field(0, description="Answers whose generation was reused from an identical earlier prompt.")


class EvalReport(BaseModel):
    config: RunConfig
    results: list[ConfigResult] = Field(description="One per configuration; the first is the chain itself.")
    records: list[EvalRecord] = Field(description="Every question of every configuration, with its verdicts.")
    seconds: float = Field(description="Wall time of the whole run, indexing included.")

    def result(self, name: str) -> ConfigResult:
        return next(r for r in self.results if r.name == name)

    def misses(self, config: str | None = None) -> list[EvalRecord]:
        """Answerable questions not answered correctly with support, and unanswerable ones answered."""
        name = config or self.results[0].name
        return [r for r in self.records if r.config == name and not (r.supported if r.answerable else r.abstained)]
