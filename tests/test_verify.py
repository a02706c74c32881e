"""The answer check as the pure function it is: a drafted answer, its question and the passages' texts in,
a verdict out. No index, no model: the passages are sentences of the default article."""

import pytest

from rag.verify import Verdict, check_answer

MOSCOW = "Al-Assad covertly departed the capital, first flying to a Russian military base and then to Moscow."
IRAQ = "His brother, Maher al-Assad, along with senior military officers, also fled to Iraq."
SEDNAYA = (
    "On December 8, among those imprisoned at Sednaya prison was Bilal Shahadi, who experienced an unexpected "
    "release as the regime crumbled."
)
PASSAGES = [MOSCOW, IRAQ, SEDNAYA]
MAHER = "Where did Maher al-Assad flee to?"


def test_a_supported_answer_keeps_its_marker() -> None:
    assert check_answer("Maher al-Assad fled to Iraq [2].", MAHER, PASSAGES) == Verdict(
        text="Maher al-Assad fled to Iraq [2].", cited=(1,)
    )


@pytest.mark.parametrize("draft", ["Maher al-Assad fled to Iraq [1].", "Maher al-Assad fled to Iraq [7].", "Iraq."])
def test_a_wrong_missing_or_impossible_marker_is_moved_to_the_passage_that_supports_the_claim(draft: str) -> None:
    verdict = check_answer(draft, MAHER, PASSAGES)
    assert verdict.declined is None and verdict.cited == (1,)
    assert verdict.text.endswith(" [2].") or verdict.text == "Iraq [2]."  # before the full stop, as a model puts it


def test_a_claim_drawing_on_two_passages_cites_both() -> None:
    verdict = check_answer(
        "Mr. al-Assad flew to Moscow, and Bilal Shahadi was released from Sednaya [1].",
        "Where did al-Assad fly, and who was released from Sednaya?",
        PASSAGES,
    )
    assert verdict.declined is None and verdict.cited == (0, 2)


def test_a_number_no_passage_states_is_declined() -> None:
    verdict = check_answer("Al-Assad arrived in Moscow on December 9, 2024 [1].", "When did he reach Moscow?", PASSAGES)
    assert verdict.declined == "not_supported" and verdict.cited == ()


def test_an_answer_from_memory_is_declined_and_the_draft_is_named() -> None:
    verdict = check_answer("Ahmed al-Sharaa became president [1].", "Who became president after al-Assad?", PASSAGES)
    assert verdict.declined == "not_supported" and "Ahmed al-Sharaa became president" in verdict.detail


def test_a_how_many_question_needs_a_quantity() -> None:
    verdict = check_answer(
        "Bilal Shahadi was released from Sednaya prison [3].",
        "How many prisoners were released from Sednaya?",
        PASSAGES,
    )
    assert verdict.declined == "wrong_kind"
    # a fraction is a quantity, though the number beside it is the question's
    verdict = check_answer(
        "Over half of the TB patients in Shandong were 65 years old [1].",
        "How many tuberculosis patients in Shandong were over 65 years old?",
        ["Over half of the TB patients in Shandong were 65 years old or older."],
    )
    assert verdict.declined is None
    # a date the question gives is not the quantity asked for
    verdict = check_answer(
        "Bilal Shahadi was released from Sednaya prison on December 8 [3].",
        "how many prisoners were released from sednaya on december 8",
        PASSAGES,
    )
    assert verdict.declined == "wrong_kind"


@pytest.mark.parametrize("draft", ["", "   ", "The documents do not say.", "The passages do not mention his age."])
def test_an_empty_draft_or_the_models_own_abstention_is_a_model_decline(draft: str) -> None:
    assert check_answer(draft, "How old is Bashar al-Assad?", PASSAGES).declined == "model_declined"


def test_a_model_that_leaned_to_declining_is_declined_at_the_threshold_not_below() -> None:
    draft = "Maher al-Assad fled to Iraq [2]."
    leaned = check_answer(draft, MAHER, PASSAGES, decline_prob=0.07, decline_threshold=0.07)
    assert leaned.declined == "model_declined" and "0.07" in leaned.detail
    assert check_answer(draft, MAHER, PASSAGES, decline_prob=0.069, decline_threshold=0.07).declined is None


def test_a_question_about_what_is_not_so_needs_a_passage_that_says_something_is_not() -> None:
    verdict = check_answer("Maher al-Assad fled to Iraq [2].", "Where did Maher al-Assad not flee to?", PASSAGES)
    assert verdict.declined == "not_supported" and "not so" in verdict.detail


def test_no_passages_means_nothing_can_support_the_answer() -> None:
    assert check_answer("Maher al-Assad fled to Iraq [1].", MAHER, []).declined == "not_supported"


EXIT = (
    "Attempts by foreign diplomats to negotiate a peaceful exit for Mr. al-Assad were unsuccessful, as his "
    "military intelligence reports detailed a swift collapse of his forces."
)


def test_a_yes_or_no_is_given_as_the_documents_sentence() -> None:
    # "failed" is not in the passage ("unsuccessful"); a yes or no is not checkable word by word anyway.
    verdict = check_answer(
        "No, the foreign diplomats failed to negotiate a peaceful exit for al-Assad [2].",
        "Did the foreign diplomats succeed in negotiating a peaceful exit for al-Assad?",
        [MOSCOW, EXIT],
    )
    assert verdict == Verdict(text=f'The documents say: "{EXIT}" [2]', cited=(1,), quoted=True)


def test_a_quote_gives_both_sentences_when_two_hold_as_much_of_the_question() -> None:
    # Each holds three of "maher", "al", "assad", "go", "moscow": the reader sees who went where.
    verdict = check_answer("Yes, Maher al-Assad went to Moscow [1].", "Did Maher al-Assad go to Moscow?", PASSAGES)
    assert verdict == Verdict(text=f'The documents say: "{MOSCOW}" [1] and "{IRAQ}" [2]', cited=(0, 1), quoted=True)
    # "flee" is the base form of the Iraq sentence's "fled": that sentence holds four, and alone is quoted
    verdict = check_answer("Yes, Maher al-Assad fled to Moscow [1].", "Did Maher al-Assad flee to Moscow?", PASSAGES)
    assert verdict == Verdict(text=f'The documents say: "{IRAQ}" [2]', cited=(1,), quoted=True)


def test_a_yes_or_no_with_no_sentence_close_to_the_question_says_why_it_is_declined() -> None:
    verdict = check_answer("Yes, the ferry leaves at nine [1].", "Does the ferry to Skagen leave at nine?", PASSAGES)
    assert verdict.declined == "not_supported" and "a yes or no" in verdict.detail and "ask what" in verdict.detail
