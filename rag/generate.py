"""Generators turn a question and numbered passages into answer text with [n] markers.

``LLMGenerator`` prompts any LangChain chat model (local GGUF, OpenAI-compatible, Ollama);
``ExtractiveGenerator`` needs no LLM: it quotes the passage sentence closest to the question.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate

from rag.chunking import sentence_spans
from rag.embeddings import Embedder
from rag.errors import GeneratorError, RagError
from rag.schema import ScoredChunk, Turn

ABSTAIN_TEXT = "The documents do not say."
# What the model is taught to reply when the passages are silent. It starts with a word answers rarely
# start with, so the model's probability of that first word measures how much it leans to declining.
DECLINE_REPLY = "Sorry, the documents do not say."


@dataclass(frozen=True)
class Confidence:
    """Sent by a generator before its tokens when it can tell how likely it was to decline."""

    decline_prob: float


# Wording measured on evals/seed.jsonl with the bundled 1.5B model (see README, "Evaluation"). The
# worked examples teach the format, the passage numbers and when to decline far better than rules do,
# and cost no time per question: the local model pins this fixed prefix (LlamaCppChat.pin_prefix).
ANSWER_SYSTEM = (
    "You answer questions using only the numbered passages the user gives you, never your own knowledge. "
    "Reply with one short sentence that answers exactly what was asked, followed by the number of the "
    "passage that says it in square brackets. If no passage says the answer, reply: " + DECLINE_REPLY
)
QUESTIONS_SYSTEM = (
    "Write three short questions that a reader could ask about the user's text and that the text answers. "
    "One question per line, nothing else."
)
ANSWER_USER = "Passages:\n{passages}\n\nQuestion: {question}"
# A second, separate question to the model about its own answer: do the passages it cited answer the
# question as asked? Crowd-written near misses ("What was rationed by railroad workers?" over a paragraph
# where Sweden rationed gasoline) are answered from the sentence the model recognises; asked this way, it
# says "No" to many of them (evals/README.md, "Dev and test").
JUDGE_SYSTEM = (
    "You decide whether a text answers a question. Every detail of the question must match the text. Reply Yes or No."
)
JUDGE_USER = "Text: {text}\n\nQuestion: {question}\n\nDoes the text answer this exact question? Reply Yes or No."
_EXAMPLE_PASSAGES = (
    "[1] Visitors to the harbour museum reached two million in 2019, twice the number of 2010.\n"
    "[2] The museum opened in 1998 after a decade of planning. Its founder, Clara Voss, gave the first "
    "paintings, and the city paid for the building."
)
ANSWER_EXAMPLES = [
    ("Who founded the museum?", "Clara Voss founded the museum [2]."),
    ("How much did the building cost?", DECLINE_REPLY),
    (
        "Did the city pay for the paintings?",
        "No, the city paid for the building and Clara Voss gave the paintings [2].",
    ),
    ("How many visitors did the museum have in 2019?", "The museum had two million visitors in 2019 [1]."),
    ("Why did Clara Voss give the paintings?", DECLINE_REPLY),
]


def answer_prompt() -> ChatPromptTemplate:
    messages: list[tuple[str, str]] = [("system", ANSWER_SYSTEM)]
    for question, reply in ANSWER_EXAMPLES:
        user = ANSWER_USER.format(passages=_EXAMPLE_PASSAGES, question=question)
        messages += [("human", user.replace("{", "{{").replace("}", "}}")), ("ai", reply)]
    return ChatPromptTemplate.from_messages([*messages, ("human", ANSWER_USER)])


REWRITE_SYSTEM = (
    "Rewrite the user's last question so that it can be understood without the conversation: replace "
    "pronouns and vague references with the names they refer to. Reply with the rewritten question only."
)
REWRITE_USER = "Conversation:\n{history}\n\nLast question: {question}\n\nRewritten question:"

# The most of the previous question that the extractive generator adds to a follow-up.
LAST_QUESTION_CHARS = 300
_PRONOUN = re.compile(r"\b(he|she|they|it|his|her|hers|him|them|their|its|this|that|these|those|there)\b", re.I)


def format_passages(passages: list[ScoredChunk]) -> str:
    return "\n".join(f"[{i}] {' '.join(p.chunk.text.split())}" for i, p in enumerate(passages, start=1))


# A rewrite prompt must fit the model's context with room for the reply. Counts are exact with the
# local model's tokenizer; for other models (remote APIs, whose window we cannot ask) they are estimated
# at 4 characters a token within an assumed window of 2,048 tokens (Ollama's default, and the local one).
CHARS_PER_TOKEN = 4
DEFAULT_CTX = 2048
# Kept free for the chat template's role markers and the joins between separately counted pieces.
TEMPLATE_TOKENS = 64
# Text runs 3-5 characters a token; text longer than this many characters a token is taken not to fit
# without tokenizing it all, so a megabyte turn costs no more to handle than one that just overflows.
MAX_CHARS_PER_TOKEN = 16


@dataclass(frozen=True)
class Tokens:
    """Counts and cuts text in a model's tokens: with the local model's tokenizer, else estimated."""

    llama: Any = None  # a llama_cpp.Llama

    def ids(self, text: str) -> list[int]:
        data = text.encode("utf-8", "replace")  # the CLI may pass undecodable input as surrogates
        return list(self.llama.tokenize(data, add_bos=False, special=False))

    def count(self, text: str) -> int:
        if self.llama is None:
            return -(-len(text) // CHARS_PER_TOKEN)
        return len(self.ids(text))

    def cut(self, text: str, n: int) -> str:
        """The beginning of ``text`` that fits in ``n`` tokens."""
        if self.llama is None:
            return text[: max(n, 0) * CHARS_PER_TOKEN]
        # Shrink a prefix in proportion until it fits: two or three tokenizations. (Cutting token ids
        # and detokenizing them is not an option: llama-cpp-python drops pieces over 32 bytes.)
        end = min(len(text), max(n, 0) * MAX_CHARS_PER_TOKEN)
        while end > 0 and (count := self.count(text[:end])) > n:
            end = end * n // count
        return text[:end]


def format_history(history: list[Turn], budget: int | None = None, tokens: Tokens | None = None, turns: int = 4) -> str:
    """The most recent turns (at most ``turns`` exchanges) that fit in ``budget`` tokens, oldest first.

    Turns are taken from the latest back while they fit; when even the latest does not, its beginning
    is kept, so a follow-up always sees what it follows.
    """
    lines = [f"{t.role.capitalize()}: {t.content}" for t in history[-2 * turns :]]
    if budget is None:
        return "\n".join(lines)
    tokens = tokens or Tokens()
    kept: list[str] = []
    left = budget
    for line in reversed(lines):
        # a line too long to fit is not worth tokenizing in full; a line that fits costs its newline too
        cost = left + 1 if len(line) > left * MAX_CHARS_PER_TOKEN else tokens.count(line) + 1
        if cost <= left:
            kept.append(line)
            left -= cost
            continue
        if not kept and left > 1:
            kept.append(tokens.cut(line, left - 1) + " ...")
        break
    return "\n".join(reversed(kept))


class Generator(Protocol):
    name: str

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Confidence]: ...

    def judge(self, question: str, texts: list[str]) -> float | None:
        """The probability that ``texts`` answer ``question`` as asked, or None when this generator cannot tell."""
        ...

    def rewrite(self, question: str, history: list[Turn]) -> str: ...

    def questions(self, passage: str, n: int) -> list[str]: ...


class LLMGenerator:
    """Prompts a LangChain chat model. What only some models offer is passed in by the one who built
    the model (``rag.generators``): exact token counts and the window (``tokens``, ``ctx``; else
    estimated), the probability of a reply's first word (``probabilities``: how much it leans to
    declining, how sure its yes is), and keeping the state after the fixed part of the answer prompt
    (``pin``, called once with those messages). ``judge``: ask the model, after an answer, whether the
    passages it cited answer the question (``judge()``)."""

    def __init__(
        self,
        model: BaseChatModel,
        name: str,
        *,
        tokens: Tokens | None = None,
        ctx: int = DEFAULT_CTX,
        probabilities: bool = False,
        judge: bool = False,
        pin: Callable[[list[BaseMessage]], None] | None = None,
    ) -> None:
        self.name = name
        if pin is not None:
            pin(answer_prompt().format_messages(passages="", question="")[:-1])
        # A model that can report the probability of declining does; remote APIs are used as they are.
        self.answer_chain = answer_prompt() | (model.bind(watch=DECLINE_REPLY) if probabilities else model)
        # The verdict is the reply's first word: one step, read as a probability where the model gives one.
        judge_prompt = ChatPromptTemplate.from_messages([("system", JUDGE_SYSTEM), ("human", JUDGE_USER)])
        # The local model asks it aside: its context is left as the answer left it (``LlamaCppChat._tokens``).
        self.judging, self.probabilities = judge, probabilities
        verdict = {"max_tokens": 1, "watch": ("Yes", "No"), "aside": True} if probabilities else {"max_tokens": 3}
        self.judge_chain = judge_prompt | model.bind(**verdict)
        self.questions_chain = (
            ChatPromptTemplate.from_messages([("system", QUESTIONS_SYSTEM), ("human", "{passage}")])
            | model
            | StrOutputParser()
        )
        self.rewrite_chain = (
            ChatPromptTemplate.from_messages([("system", REWRITE_SYSTEM), ("human", REWRITE_USER)])
            | model
            | StrOutputParser()
        )
        # What a rewrite prompt may use: the context less the longest reply.
        self.tokens, self.ctx = tokens or Tokens(), ctx
        self.reply_tokens = int(getattr(model, "max_tokens", None) or 256)

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Confidence]:
        with _generator_errors(self.name):
            for chunk in self.answer_chain.stream({"passages": format_passages(passages), "question": question}):
                if "watch_prob" in chunk.response_metadata:
                    yield Confidence(chunk.response_metadata["watch_prob"])
                if chunk.content:
                    yield str(chunk.content)

    def judge(self, question: str, texts: list[str]) -> float | None:
        """How sure the model is that ``texts`` answer ``question`` as asked: the probability of "Yes"
        against "No" (a remote model: 1.0 or 0.0 by its word); None when not judging or it said neither."""
        if not self.judging:
            return None
        frame = JUDGE_SYSTEM + JUDGE_USER.format(text="", question=question)
        room = self.ctx - TEMPLATE_TOKENS - self.tokens.count(frame)
        if room <= 0:
            return None
        text = self.tokens.cut(" ".join(" ".join(t.split()) for t in texts), room)
        reply, prob = "", None
        with _generator_errors(self.name):
            for chunk in self.judge_chain.stream({"text": text, "question": question}):
                prob = chunk.response_metadata.get("watch_prob", prob)
                reply += str(chunk.content)
        if self.probabilities:
            return prob
        word = reply.strip().split(maxsplit=1)[0].strip(".,!:").lower() if reply.strip() else ""
        return {"yes": 1.0, "no": 0.0}.get(word)

    def history_budget(self, question: str) -> int:
        """Tokens the conversation may take in the rewrite prompt for ``question``."""
        prompt = REWRITE_SYSTEM + REWRITE_USER.format(history="", question=question)
        return self.ctx - self.reply_tokens - TEMPLATE_TOKENS - self.tokens.count(prompt)

    def rewrite(self, question: str, history: list[Turn]) -> str:
        if not history:
            return question
        budget = self.history_budget(question)
        if budget <= 0:  # a question that leaves no room for the conversation is searched as it is
            return question
        conversation = format_history(history, budget, self.tokens)
        with _generator_errors(self.name):
            text = self.rewrite_chain.invoke({"history": conversation, "question": question})
        text = text.strip().strip('"').splitlines()[0].strip() if text.strip() else ""
        # A rewrite that lost the question (empty, or an answer instead of a question) is not used.
        return text if 0 < len(text) <= 4 * len(question) + 200 else question

    def questions(self, passage: str, n: int) -> list[str]:
        """Up to ``n`` questions the passage answers (example questions for a new user)."""
        with _generator_errors(self.name):
            text = self.questions_chain.invoke({"passage": passage})
        lines = [re.sub(r"^\s*(?:\d+[.)]|[-*])\s*", "", line).strip() for line in text.splitlines()]
        return [q for q in lines if q.endswith("?") and 3 <= len(q.split()) <= 20][:n]


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

    def stream(self, question: str, passages: list[ScoredChunk]) -> Iterator[str | Confidence]:
        candidates = [
            (n, p.chunk.text[a:b]) for n, p in enumerate(passages, start=1) for a, b in sentence_spans(p.chunk.text)
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

    def questions(self, passage: str, n: int) -> list[str]:
        return []  # writing questions needs a language model

    def judge(self, question: str, texts: list[str]) -> float | None:
        return None  # a quoted sentence is its own evidence; judging it needs a language model

    def rewrite(self, question: str, history: list[Turn]) -> str:
        """Without an LLM, a follow-up that leans on pronouns is searched together with the last question
        (its beginning: a client may send anything as history, and all of it would be searched)."""
        last = next((t.content for t in reversed(history) if t.role == "user"), "")
        last = " ".join(last[: LAST_QUESTION_CHARS + 1].split())
        if len(last) > LAST_QUESTION_CHARS:
            last = last[:LAST_QUESTION_CHARS].rsplit(" ", 1)[0] + " ..."
        return f"{question} ({last})" if last and _PRONOUN.search(question) else question
