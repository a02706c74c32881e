"""End to end with the real bundled LLM (Qwen2.5-Coder-1.5B GGUF via llama-cpp-python)."""

import numpy as np
import pytest

from rag.answer import QAEngine
from rag.config import Settings
from rag.factory import build_engine, build_store
from rag.llm import load_local
from rag.schema import Turn

pytestmark = pytest.mark.llm


@pytest.fixture()
def engine(indexed_settings: Settings) -> QAEngine:
    """The chain with the local LLM over the shared index of the default article (it only reads it)."""
    local = indexed_settings.model_copy(update={"llm": "local"})
    return build_engine(local, build_store(local))


def test_answers_with_a_citation(engine: QAEngine) -> None:
    answer = engine.ask("Where did Maher al-Assad flee to?")
    assert "Iraq" in answer.answer and not answer.abstained and answer.grounded
    assert any("fled to Iraq" in c.text for c in answer.citations)


def test_background_before_the_question_does_not_stop_the_answer(engine: QAEngine) -> None:
    # Names in the background (Stanford) are not what is asked: neither the subject check nor the judge
    # reads them (with them, 9 of 12 such dev questions of the seed set were declined).
    answer = engine.ask("I'm writing a report for my history class at Stanford. Where did Maher al-Assad flee to?")
    assert "Iraq" in answer.answer and not answer.abstained, answer.abstain_detail
    assert any("fled to Iraq" in c.text for c in answer.citations)


def test_a_polite_wrapper_does_not_stop_the_answer(engine: QAEngine) -> None:
    # "Can you tell me ..." made the model lean to declining (seed dev questions so wrapped: 4 of 12 declined, now 1).
    answer = engine.ask("Can you tell me where did Maher al-Assad flee to?")
    assert "Iraq" in answer.answer and not answer.abstained, answer.abstain_detail
    assert answer.standalone_question == "Where did Maher al-Assad flee to?"


def test_a_name_typed_one_letter_off_is_answered_as_the_article_spells_it(engine: QAEngine) -> None:
    # The answer used to repeat the slip ("Maer al-Asad fled to Iraq"): a claim about a name no document has.
    answer = engine.ask("Where did Maer al-Asad flee to?")
    assert answer.standalone_question == "Where did Maher al-Assad flee to?"
    assert "Iraq" in answer.answer and not answer.abstained, answer.abstain_detail
    assert "Maer" not in answer.answer and "Asad" not in answer.answer


def test_a_yes_no_question_gets_the_articles_sentence_not_a_yes_or_no(engine: QAEngine) -> None:
    # The model's yes or no cannot be checked word by word (it says yes to about half the false
    # statements of evals/yesno): the sentence that decides it is quoted instead of "The documents do not say."
    answer = engine.ask("Did Maher al-Assad flee to Iraq?")
    assert not answer.abstained, answer.abstain_detail
    assert answer.answer.startswith('The documents say: "') and "also fled to Iraq" in answer.answer
    assert answer.checks.get("quoted") and any("fled to Iraq" in c.text for c in answer.citations)


@pytest.mark.parametrize("question", ["Who won the 2022 World Cup?", "Who became president after al-Assad?"])
def test_abstains_when_the_article_does_not_say(engine: QAEngine, question: str) -> None:
    answer = engine.ask(question)
    assert answer.abstained and answer.citations == []


def test_follow_up_question_in_a_chat(engine: QAEngine) -> None:
    first = engine.ask("Why did Bashar al-Assad leave the palace secretly?")
    history = [Turn(role="user", content=first.question), Turn(role="assistant", content=first.answer)]
    answer = engine.ask("Where did he fly first?", history)
    assert "assad" in answer.standalone_question.lower()
    assert "russian" in answer.answer.lower() and answer.citations


def test_the_prompt_prefix_state_is_kept_on_disk(engine: QAEngine, indexed_settings: Settings) -> None:
    files = list(indexed_settings.model_dir.expanduser().glob("prefix-*.npz"))
    assert files and all(f.stat().st_size > 1_000_000 for f in files)
    first = engine.ask("Where did Maher al-Assad flee to?")
    engine.generator.rewrite("Where did he go?", [Turn(role="user", content="Who is Maher al-Assad?")])
    again = engine.ask("Where did Maher al-Assad flee to?")  # the prefix is restored after the rewrite
    assert again.answer == first.answer and again.citations == first.citations


def test_the_model_judges_whether_a_passage_answers_the_question_as_asked(engine: QAEngine) -> None:
    """The judge (check 6) on a passage of the article: the question it answers, and near misses that
    change one detail of it, which every word-level check would let through."""
    passage = "His brother, Maher al-Assad, along with senior military officers, also fled to Iraq."
    right = engine.generator.judge("Where did Maher al-Assad flee to?", [passage])
    assert right is not None and right > 0.5
    for near_miss in ["Where did Maher al-Assad's sister flee to?", "Where did the senior judges flee to?"]:
        judged = engine.generator.judge(near_miss, [passage])
        assert judged is not None and judged < 0.5, near_miss


def test_the_judge_is_asked_aside(engine: QAEngine, indexed_settings: Settings) -> None:
    """The judge's question leaves the model's context as the answer left it: the next answer reuses the
    cached prompt exactly as it would have without the judge (llama.cpp's sums depend on where it starts)."""
    llama = load_local(indexed_settings.model_copy(update={"llm": "local"})).llama  # the engine's model
    engine.ask("Where did Maher al-Assad flee to?")
    before = llama.input_ids[: llama.n_tokens].copy()
    assert engine.generator.judge("Where did Maher al-Assad flee to?", ["His brother also fled to Iraq."]) is not None
    assert np.array_equal(llama.input_ids[: llama.n_tokens], before)
