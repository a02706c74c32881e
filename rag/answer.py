"""The answering chain: (question, history) -> rewrite -> retrieve -> generate -> check citations -> Answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda

from rag.citations import resolve, strip_markers
from rag.conflicts import conflicting
from rag.errors import InvalidQuestion
from rag.focus import focus
from rag.generate import ABSTAIN_TEXT, Confidence, Generator
from rag.questions import asked_part, direct, respell
from rag.retrieve import HybridRetriever
from rag.schema import AbstainReason, Answer, ScoredChunk, Turn
from rag.sources import stamp
from rag.stream import AnswerStream
from rag.verify import check_answer

log = logging.getLogger(__name__)

NEAREST = 3  # passages shown with an abstention
# A question is about another subject when at least this many of its content words, and this share of
# them, never occur in the documents (chosen on the dev splits of the eval sets: no answerable dev
# question lost, most out-of-corpus ones caught; see evals/README.md).
MIN_UNKNOWN_WORDS = 2
UNKNOWN_SHARE = 0.5
# ... unless the question names something the documents name and a passage is this close to it: then it
# asks about their subject in other words ("how were people in damascus reacting" over "residents began
# to prepare"), which a small corpus often lacks. On the dev splits the out-of-corpus questions the words
# rule declines have a nearest passage of 0.34 at most, the answerable ones it declined 0.55 at least.
CLOSE_SCORE = 0.45


def validate_question(question: str, max_chars: int) -> str:
    question = " ".join(question.split())
    if not question:
        raise InvalidQuestion("the question is empty")
    if len(question) > max_chars:
        raise InvalidQuestion(f"the question has {len(question)} characters; the limit is {max_chars}")
    return question


@dataclass(frozen=True)
class AnswerPolicy:
    """The limits and thresholds an engine answers by: ``rag.factory.answer_policy`` reads them from the
    configuration, ``calibrated_policy`` with a stored calibration. Frozen: a new calibration is a new policy."""

    top_k: int  # passages the generator reads, unless a question asks for another number
    max_sentences: int  # sentences kept of those passages (0: whole passages)
    min_score: float  # below this best dense score, no passage is close enough: abstain without generating
    decline_threshold: float  # abstain when the generator leans to declining with at least this probability
    judge_threshold: float  # abstain when the generator's "yes, the cited passages answer it" is below this
    check_names: bool  # decline questions about names and words no document mentions
    max_question_chars: int


class QAEngine:
    """One object the CLI, API and UI share. ``chain`` is the same pipeline as a LangChain Runnable."""

    def __init__(self, retriever: HybridRetriever, generator: Generator, policy: AnswerPolicy) -> None:
        self.retriever = retriever
        self.generator = generator
        self.policy = policy
        self.chain: Runnable[dict[str, Any], Answer] = RunnableLambda(self._invoke_dict)

    def ask(self, question: str, history: list[Turn] | None = None, k: int | None = None) -> Answer:
        return AnswerStream(self.stream(question, history, k)).result()

    def stream(self, question: str, history: list[Turn] | None = None, k: int | None = None) -> Iterator[str | Answer]:
        """Yields answer tokens as they are generated, then the final, checked ``Answer``.

        Tokens are the model's raw text; the final ``Answer`` holds the cleaned text and the citations
        that survived the checks, and is what to show once the stream ends.
        """
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        question = validate_question(question, self.policy.max_question_chars)
        history = history or []

        t = time.perf_counter()
        standalone = direct(self.generator.rewrite(question, history) if history else question)
        standalone = respell(standalone, self.retriever.vocabulary())
        if history:
            timings["rewrite"] = _ms(t)

        t = time.perf_counter()
        passages, best = self.context(standalone, k)
        timings["retrieve"] = _ms(t)

        # Checks that need no generation: the question's subject, and how close the nearest passage is.
        missing = self.unknown_subject(standalone, best) if self.policy.check_names else []
        declined: Answer | None = None
        if missing:
            listed = ", ".join(f"'{n}'" for n in missing)
            declined = _abstain("not_in_documents", f"The documents never mention {listed}.", passages)
        elif best < self.policy.min_score:
            log.info("abstain: best passage score %.3f below %.3f", best, self.policy.min_score)
            declined = _abstain(
                "no_relevant_passage", "No passage of the documents is close to the question.", passages
            )

        raw = ""
        decline: float | None = None
        if declined is None:
            t = time.perf_counter()
            first: float | None = None
            for token in self.generator.stream(standalone, passages):
                if isinstance(token, Confidence):
                    decline = token.decline_prob
                    continue
                if first is None:
                    first = _ms(t)
                raw += token
                yield token
            timings["first_token"] = first or 0.0
            timings["generate"] = _ms(t)

        t = time.perf_counter()
        answer = declined or self.finalize(raw, standalone, passages, decline)
        if declined is None:
            timings["check"] = _ms(t)  # the checks of the draft, the judge's question among them
        answer.checks = {
            "best_score": round(best, 4),
            "not_in_documents": missing,
            "decline_prob": decline,
            **answer.checks,
        }
        if raw:
            answer.checks["draft"] = " ".join(raw.split())
        answer.question = question
        answer.standalone_question = standalone
        stamp(answer, self.retriever.store)  # what it cites, as indexed now: rag.sources.check tells later
        timings["total"] = _ms(t0)
        answer.timings_ms = timings
        log.info(
            "answered",
            extra={
                "abstained": answer.abstained,
                "reason": answer.abstain_reason,
                "citations": len(answer.citations),
                "ms": timings["total"],
            },
        )
        yield answer

    def unknown_subject(self, question: str, best: float = 0.0) -> list[str]:
        """What the question asks about that no indexed document mentions; empty when they may answer.

        A question naming something (a capitalised name, a number) the documents never mention, or
        most of whose content words they never use, is about another subject: it cannot be answered
        from them, whatever passage a model would cite, so it is declined without generating. Words
        are looked up by stem, prefix and one typing slip (``rag.terms.Vocabulary``). Unknown words
        alone do not decline a question that names what the documents name when a passage is close
        to it (``best``, the nearest passage's score, at least ``CLOSE_SCORE``; for the asking part alone
        when the question has background): it is a paraphrase.
        """
        vocabulary = self.retriever.vocabulary()
        asked = asked_part(question)
        missing_names, missing_words, counted = vocabulary.unknown(asked)
        if missing_names:
            return missing_names
        if len(missing_words) < MIN_UNKNOWN_WORDS or len(missing_words) < UNKNOWN_SHARE * counted:
            return []
        if not vocabulary.named_in(asked):
            return missing_words
        if asked != question:  # how close a passage is to what is asked, not to the background
            best = max((p.score for p in self.retriever.search(asked, self.policy.top_k)), default=0.0)
        if best >= CLOSE_SCORE:
            log.info("subject check: %s unknown, but a passage is close (%.2f)", missing_words, best)
            return []
        return missing_words

    def context(self, question: str, k: int | None = None) -> tuple[list[ScoredChunk], float]:
        """The passages the generator reads for ``question``, and the best dense score among those found."""
        self.retriever.store.require_index()
        passages = self.retriever.search(question, k or self.policy.top_k)
        best = max((p.score for p in passages), default=0.0)
        if self.policy.max_sentences and best >= self.policy.min_score:
            passages = focus(question, passages, self.retriever.embedder, self.policy.max_sentences)
            # In reading order the kept sentences make a coherent text; measured better than by score.
            passages.sort(key=lambda p: (p.chunk.source, p.chunk.start))
        return passages, best

    def finalize(
        self, raw: str, question: str, passages: list[ScoredChunk], decline_prob: float | None = None
    ) -> Answer:
        """The checked answer to a draft (``rag.verify.check_answer``), or an abstention saying which check
        declined it; an answer the other passages contradict says so and cites both sides."""
        log.info("generated: %r (decline probability %s)", " ".join(raw.split()), decline_prob)
        verdict = check_answer(
            raw, question, [p.chunk.text for p in passages], decline_prob, self.policy.decline_threshold
        )
        if verdict.declined:
            log.info("abstain (%s): %s", verdict.declined, verdict.detail)
            return _abstain(verdict.declined, verdict.detail, passages)
        text, cited = verdict.text, list(verdict.cited)
        judged = self.judge(asked_part(question), [passages[i] for i in cited])  # not the background
        if judged is not None and judged < self.policy.judge_threshold:
            detail = (
                "Asked whether the cited passages answer this question as asked, the generator said no "
                f"(probability of yes {judged:.2f}); they may be about something close to it."
            )
            log.info("abstain (not_answered): %s", detail)
            declined = _abstain("not_answered", detail, passages)
            declined.checks = {"judge_prob": judged}
            return declined
        # Markers still number ``passages`` here; ``resolve`` renumbers them by first appearance.
        others = [i for i in range(len(passages)) if i not in cited]
        against: list[ScoredChunk] = []
        if not verdict.quoted:  # a quote states no one answer to contradict
            against = conflicting(
                strip_markers(text),
                question,
                [passages[i] for i in cited],
                [passages[i] for i in others],
                self.retriever.embedder,
            )
        if against:
            # Both sides, cited: a planted or outdated document must not win silently.
            log.info("conflicting passages: %r", [p.chunk.text for p in against])
            sides = "".join(f"[{passages.index(p) + 1}]" for p in against)
            text += f" However, the documents disagree: {sides} {'says' if len(against) == 1 else 'say'} otherwise."
        clean, citations = resolve(text, passages)
        answer = Answer(answer=clean, citations=citations, grounded=True, conflicting=bool(against))
        answer.checks = {"judge_prob": judged, **({"quoted": True} if verdict.quoted else {})}
        return answer

    def judge(self, question: str, cited: list[ScoredChunk]) -> float | None:
        """The generator's probability that the cited passages answer ``question`` as asked (None when it
        cannot tell, or the policy does not ask)."""
        if self.policy.judge_threshold <= 0:
            return None
        return self.generator.judge(question, [p.chunk.text for p in cited])

    def _invoke_dict(self, inputs: dict[str, Any]) -> Answer:
        history = [Turn.model_validate(t) for t in inputs.get("history") or []]
        return self.ask(inputs["question"], history, inputs.get("k"))


def _abstain(reason: AbstainReason, detail: str, passages: list[ScoredChunk]) -> Answer:
    """ "The documents do not say.", with which check said so and the passages nearest the question."""
    nearest = sorted(passages, key=lambda p: p.score, reverse=True)[:NEAREST]
    marks = "".join(f"[{n}]" for n in range(1, len(nearest) + 1))
    return Answer(
        answer=ABSTAIN_TEXT,
        abstained=True,
        abstain_reason=reason,
        abstain_detail=detail,
        nearest=resolve(marks, nearest)[1],
    )


def _ms(t: float) -> float:
    return round((time.perf_counter() - t) * 1000, 1)
