"""The chain's plumbing with a scripted chat model (a fake LLM is fine here, never for answer quality).

What the checks decide on a draft is tested on the pure function itself (tests/test_verify.py); here,
that the engine runs them and turns a verdict into an Answer with citations."""

from dataclasses import replace
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field

from rag.answer import QAEngine
from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import IndexMissing, InvalidQuestion
from rag.factory import answer_policy, build_store
from rag.generate import ABSTAIN_TEXT, DEFAULT_CTX, LLMGenerator, Tokens
from rag.retrieve import HybridRetriever
from rag.schema import Answer, Turn
from tests.server import ARTICLE


def engine(settings: Settings, embedder: Embedder, *replies: str) -> QAEngine:
    """The chain over the index ``settings`` name (the shared one of the default article, or an empty one)."""
    model = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    retriever = HybridRetriever(store=build_store(settings), embedder=embedder, k=3)
    return QAEngine(retriever, LLMGenerator(model, "fake"), answer_policy(settings))


MAHER = "Where did Maher al-Assad flee to?"


def test_valid_marker_becomes_a_citation_with_span(indexed_settings: Settings, embedder: Embedder) -> None:
    answer = engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].").ask(MAHER)
    assert not answer.abstained and answer.grounded
    assert answer.answer == "Maher al-Assad fled to Iraq [1]."
    (c,) = answer.citations
    assert c.n == 1 and "fled to Iraq" in c.text and c.source == "syria-assad-fall.txt"
    assert indexed_settings.corpus_dir.joinpath(c.source).read_text()[c.start : c.end] == c.text
    assert {"retrieve", "generate", "first_token", "check", "total"} <= set(answer.timings_ms)


def test_a_marker_to_no_passage_is_dropped_and_the_claim_reattributed(
    indexed_settings: Settings, embedder: Embedder
) -> None:
    answer = engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [7].").ask(MAHER)
    assert answer.answer == "Maher al-Assad fled to Iraq [1]."  # re-attributed before the full stop
    assert [c.n for c in answer.citations] == [1] and "fled to Iraq" in answer.citations[0].text


def test_model_abstention_is_flagged(indexed_settings: Settings, embedder: Embedder) -> None:
    answer = engine(indexed_settings, embedder, "The documents do not say.").ask("How old is Bashar al-Assad?")
    assert answer.abstained and answer.answer == ABSTAIN_TEXT


def test_unrelated_question_abstains_without_calling_the_model(indexed_settings: Settings, embedder: Embedder) -> None:
    eng = engine(indexed_settings, embedder)  # no scripted reply: calling the model would raise
    answer = eng.ask("Who won the 2022 World Cup?")
    assert answer.abstained and "generate" not in answer.timings_ms


def test_stream_yields_tokens_then_the_answer(indexed_settings: Settings, embedder: Embedder) -> None:
    events = list(engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].").stream(MAHER))
    tokens, final = events[:-1], events[-1]
    assert len(tokens) > 1 and all(isinstance(t, str) for t in tokens)
    assert isinstance(final, Answer) and "".join(tokens) == "Maher al-Assad fled to Iraq [1]."


def test_follow_up_is_rewritten_before_retrieval(indexed_settings: Settings, embedder: Embedder) -> None:
    eng = engine(
        indexed_settings,
        embedder,
        "Where did Bashar al-Assad fly first?",
        "He first flew to a Russian military base [1].",
    )
    history = [
        Turn(role="user", content="Why did Bashar al-Assad leave Damascus?"),
        Turn(role="assistant", content="..."),
    ]
    answer = eng.ask("Where did he fly first?", history)
    assert answer.standalone_question == "Where did Bashar al-Assad fly first?"
    assert "rewrite" in answer.timings_ms
    assert "Russian military base" in answer.citations[0].text


def test_the_chain_is_a_langchain_runnable(indexed_settings: Settings, embedder: Embedder) -> None:
    answer = engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].").chain.invoke({"question": MAHER})
    assert isinstance(answer, Answer) and answer.citations


@pytest.mark.parametrize("question", ["", "   ", "x" * 2001])
def test_bad_questions_are_refused(settings: Settings, embedder: Embedder, question: str) -> None:
    with pytest.raises(InvalidQuestion):
        engine(settings, embedder).ask(question)


def test_missing_index_is_a_clear_error(settings: Settings, embedder: Embedder) -> None:
    with pytest.raises(IndexMissing, match="rag ingest"):
        engine(settings, embedder).ask(MAHER)


class RecordingChat(GenericFakeChatModel):
    """A scripted chat model that keeps the prompts it is given."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.prompts.append(messages)
        return super()._generate(messages, *args, **kwargs)


def test_a_long_conversation_is_cut_to_fit_the_rewrite_prompt(indexed_settings: Settings, embedder: Embedder) -> None:
    """A 20 KB history used to go whole (its last 8 turns) into the rewrite prompt, past the context."""
    replies = ["Where did Maher al-Assad flee to?", "Maher al-Assad fled to Iraq [1]."]
    model = RecordingChat(messages=iter([AIMessage(content=r) for r in replies]))
    generator = LLMGenerator(model, "fake")
    retriever = HybridRetriever(store=build_store(indexed_settings), embedder=embedder, k=3)
    eng = QAEngine(retriever, generator, answer_policy(indexed_settings))
    article = " ".join(ARTICLE.read_text().split())
    history = [
        Turn(role=role, content=text)
        for _ in range(9)
        for role, text in [("user", "Tell me more."), ("assistant", article)]
    ]
    history += [
        Turn(role="user", content="Who is Maher al-Assad?"),
        Turn(role="assistant", content="Maher al-Assad is the brother of President Bashar al-Assad."),
    ]
    assert sum(len(t.content) for t in history) >= 20_000

    answer = eng.ask("Where did he flee to?", history)

    rewrite, answer_prompt = ("\n".join(str(m.content) for m in p) for p in model.prompts)
    assert Tokens().count(rewrite) + generator.reply_tokens <= DEFAULT_CTX
    assert "User: Who is Maher al-Assad?\nAssistant: Maher al-Assad is the brother" in rewrite
    assert answer.standalone_question == "Where did Maher al-Assad flee to?" and "Iraq" in answer.answer
    # the answer prompt never carries the conversation: only passages and the standalone question
    assert "Tell me more." not in answer_prompt and "brother of President" not in answer_prompt


def judging_engine(
    settings: Settings, embedder: Embedder, *replies: str, threshold: float = 0.5
) -> tuple[QAEngine, RecordingChat]:
    """An engine whose generator is asked, after answering, whether the cited passages answer the question
    (as a remote model is: by its word), and its scripted model."""
    model = RecordingChat(messages=iter([AIMessage(content=r) for r in replies]))
    retriever = HybridRetriever(store=build_store(settings), embedder=embedder, k=3)
    policy = replace(answer_policy(settings), judge_threshold=threshold)
    return QAEngine(retriever, LLMGenerator(model, "fake", judge=True), policy), model


def test_an_answer_the_generator_then_judges_off_the_question_is_declined(
    indexed_settings: Settings, embedder: Embedder
) -> None:
    eng, model = judging_engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].", "No.")
    answer = eng.ask(MAHER)
    assert answer.abstained and answer.answer == ABSTAIN_TEXT and answer.abstain_reason == "not_answered"
    assert "said no" in answer.abstain_detail and answer.nearest
    assert answer.checks["judge_prob"] == 0.0 and answer.checks["draft"] == "Maher al-Assad fled to Iraq [1]."
    # the judge reads the cited passage and the question, not the answer
    judged = "\n".join(str(m.content) for m in model.prompts[-1])
    assert "fled to Iraq" in judged and MAHER in judged and "Maher al-Assad fled to Iraq [1]" not in judged


@pytest.mark.parametrize("verdict", ["Yes", "Perhaps."])
def test_an_answer_judged_yes_or_not_judged_stands(
    indexed_settings: Settings, embedder: Embedder, verdict: str
) -> None:
    eng, _ = judging_engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].", verdict)
    answer = eng.ask(MAHER)
    assert not answer.abstained and answer.answer == "Maher al-Assad fled to Iraq [1]."
    assert answer.checks["judge_prob"] == (1.0 if verdict == "Yes" else None)


def test_a_judge_threshold_of_zero_never_asks(indexed_settings: Settings, embedder: Embedder) -> None:
    eng, model = judging_engine(indexed_settings, embedder, "Maher al-Assad fled to Iraq [1].", threshold=0.0)
    answer = eng.ask(MAHER)  # a second call would find no scripted reply and fail
    assert not answer.abstained and answer.checks["judge_prob"] is None
    assert len(model.prompts) == 1
