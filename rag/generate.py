"""Generators turn a question and numbered passages into answer text with [n] markers.

``LLMGenerator`` prompts any LangChain chat model (local GGUF, OpenAI-compatible, Ollama);
``ExtractiveGenerator`` needs no LLM: it quotes the passage sentence closest to the question.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from rag.embeddings import Embedder
from rag.errors import GeneratorError, RagError
from rag.schema import ScoredChunk, Turn

ABSTAIN_TEXT = "The documents do not say."

# Wording measured on evals/seed.jsonl with the bundled 1.5B model (see README, "Evaluation"):
# one short sentence, a bracketed passage number, and an explicit way out when the passages are silent.
ANSWER_SYSTEM = (
    "You answer questions using only the numbered passages the user gives you, never your own knowledge. "
    "Reply with one short sentence that answers the question, followed by the number of the passage that "
    "supports it in square brackets, for example: The meeting took place in Vienna [2]. "
    "If the passages do not contain the answer, reply: The documents do not say."
)
ANSWER_USER = "Passages:\n{passages}\n\nQuestion: {question}"

REWRITE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation: replace "
    "pronouns and vague references with the names they refer to. Reply with the rewritten question only."
)
REWRITE_USER = "Conversation:\n{history}\n\nLast question: {question}\n\nRewritten question:"

_PRONOUN = re.compile(r"\b(he|she|they|it|his|her|hers|him|them|their|its|this|that|these|those|there)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def format_passages(passages: list[ScoredChunk]) -> str:
    return "\n".join(f"[{i}] {' '.join(p.chunk.text.split())}" for i, p in enumerate(passages, start=1))


def format_history(history: list[Turn], turns: int = 4) -> str:
    return "\n".join(f"{t.role.capitalize()}: {t.content}" for t in history[-2 * turns :])


class Generator(Protocol):
    name: str

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str]: ...

    def rewrite(self, question: str, history: list[Turn]) -> str: ...


class LLMGenerator:
    def __init__(self, model: BaseChatModel, name: str) -> None:
        self.name = name
        parser = StrOutputParser()
        self.answer_chain = (
            ChatPromptTemplate.from_messages([("system", ANSWER_SYSTEM), ("human", ANSWER_USER)]) | model | parser
        )
        self.rewrite_chain = (
            ChatPromptTemplate.from_messages([("system", REWRITE_SYSTEM), ("human", REWRITE_USER)]) | model | parser
        )

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str]:
        with _generator_errors(self.name):
            yield from self.answer_chain.stream({"passages": format_passages(passages), "question": question})

    def rewrite(self, question: str, history: list[Turn]) -> str:
        if not history:
            return question
        with _generator_errors(self.name):
            text = self.rewrite_chain.invoke({"history": format_history(history), "question": question})
        text = text.strip().strip('"').splitlines()[0].strip() if text.strip() else ""
        # A rewrite that lost the question (empty, or an answer instead of a question) is not used.
        return text if 0 < len(text) <= 4 * len(question) + 200 else question


@contextmanager
def _generator_errors(name: str) -> Iterator[None]:
    """A remote endpoint that is down or refuses us is a one-line error, not a stack trace."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:
        raise GeneratorError(f"the {name} generator failed: {type(exc).__name__}: {exc}") from exc


class ExtractiveGenerator:
    """Quotes the sentence most similar to the question, with its marker. Instant and deterministic."""

    name = "extractive"

    def __init__(self, embedder: Embedder, min_score: float) -> None:
        self.embedder = embedder
        self.min_score = min_score

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str]:
        candidates = [
            (n, s.strip())
            for n, p in enumerate(passages, start=1)
            for s in _SENTENCE.split(p.chunk.text)
            if len(s.strip()) > 3
        ]
        if not candidates:
            yield ABSTAIN_TEXT
            return
        vectors = self.embedder.embed([question, *(s for _, s in candidates)])
        sims = vectors[1:] @ vectors[0]
        best = int(np.argmax(sims))
        if float(sims[best]) < self.min_score:
            yield ABSTAIN_TEXT
            return
        n, sentence = candidates[best]
        yield f"{sentence} [{n}]"

    def rewrite(self, question: str, history: list[Turn]) -> str:
        """Without an LLM, a follow-up that leans on pronouns is searched together with the last question."""
        last = next((t.content for t in reversed(history) if t.role == "user"), "")
        return f"{question} ({last})" if last and _PRONOUN.search(question) else question
