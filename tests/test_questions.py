"""How people type questions: background before them, polite wrappers around them, names one slip off
(pure functions)."""

from __future__ import annotations

import pytest

from rag.questions import asked_part, direct, respell
from rag.terms import Vocabulary, names, words


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("Where did Maher al-Assad flee to?", "Where did Maher al-Assad flee to?"),
        ("I'm writing a report at Stanford. Where did Maher flee? Thanks!", "Where did Maher flee?"),
        ("Thanks a lot. Who is the drummer for guns and roses", "Who is the drummer for guns and roses"),  # no "?"
        ("Tell me about Sednaya. List the prisoners.", "Tell me about Sednaya. List the prisoners."),  # none asks
        ("Messi moved. Where did he go to?", "Messi moved. Where did he go to?"),  # "he": the background
        ("I like the Eiffel Tower. When was it built?", "I like the Eiffel Tower. When was it built?"),  # one word
        ("Hello from Oslo! Why did the rebels take it so fast?", "Why did the rebels take it so fast?"),
        ("Thanks. Is the palace well defended", "Is the palace well defended"),
        ("Hi there. who is the drummer for guns and roses", "who is the drummer for guns and roses"),
        ("What did the U.S. army do in Iraq?", "What did the U.S. army do in Iraq?"),
        ("I'm new at Stanford. In which prison was Bilal held", "In which prison was Bilal held"),  # no "?"
        ("We met in Oslo. In Oslo we talked.", "We met in Oslo. In Oslo we talked."),  # no question word
        # a background ended by a colon or a dash, in one sentence
        ("For my CS class at MIT: what is a Turing machine?", "what is a Turing machine?"),
        ("Homework for Mrs. Patel - where did Maher al-Assad flee to?", "where did Maher al-Assad flee to?"),
        ("Regarding Sednaya: who was released?", "Regarding Sednaya: who was released?"),  # one word asked
        # a pronoun next to a name of the asking part's own is that name's, not the background's
        ("Hi from Oslo. When was Assad to give his speech?", "When was Assad to give his speech?"),
        (
            "Messi moved to Miami. Which club did he join in 2023?",
            "Messi moved to Miami. Which club did he join in 2023?",
        ),
    ],
)
def test_the_asked_part_leaves_out_background(question: str, asked: str) -> None:
    assert asked_part(question) == asked


@pytest.mark.parametrize(
    ("question", "plain"),
    [
        ("Can you tell me where did Maher al-Assad flee to?", "Where did Maher al-Assad flee to?"),
        ("Could you please tell me with whom was the plan shared?", "With whom was the plan shared?"),
        ("Do you know how Maher is related to the president?", "How Maher is related to the president?"),
        ("I'd like to know what the endowment is.", "What the endowment is."),
        ("Please tell me: when did Mongke Khan die?", "When did Mongke Khan die?"),
        ("Hi. Can you tell me who fled?", "Hi. Who fled?"),  # after background too
        ("Where did Maher flee?", "Where did Maher flee?"),  # nothing to take off
        ("Do you know if he fled?", "Do you know if he fled?"),  # yes/no: left as asked
        ("Can you tell me about Sednaya?", "Can you tell me about Sednaya?"),  # a request, not a wrapper
        # Wrappers no list names, told by their words: they address the reader and ask to be told.
        ("Any idea where did Maher flee to?", "Where did Maher flee to?"),
        ("I was wondering, in which city did he end up?", "In which city did he end up?"),
        ("Would you mind telling me who fled?", "Who fled?"),
        ("Does anybody remember when Aleppo fell?", "When Aleppo fell?"),
        ("I'm curious why the aides panicked.", "Why the aides panicked."),
        ("Does the report say when Aleppo fell?", "Does the report say when Aleppo fell?"),  # its own subject
        ("Is it known where he went?", "Is it known where he went?"),
        ("Who can tell me when it fell?", "Who can tell me when it fell?"),  # already a question
    ],
)
def test_a_polite_wrapper_is_taken_off(question: str, plain: str) -> None:
    assert direct(question) == plain


ARTICLE = (
    "Mr. al-Assad flew to Moscow. His brother, Maher al-Assad, also fled to Iraq. Bilal Shahadi was "
    "released from Sednaya. Nobody would say where the World Bank stood on it; a coup was feared."
)


@pytest.mark.parametrize(
    ("question", "spelt"),
    [
        ("Where did Maer al-Asad flee to?", "Where did Maher al-Assad flee to?"),  # letters dropped
        ("Was Bilal Shahdi released from Sednya?", "Was Bilal Shahadi released from Sednaya?"),
        ("Why did Mahre flee?", "Why did Maher flee?"),  # two letters swapped
        ("where did maer flee", "where did maer flee"),  # typed in lower case: no name to go by
        ("Who won the World Cup?", "Who won the World Cup?"),  # "Cup" is three letters; "coup" is no name here
        ("Where is MAER based?", "Where is MAER based?"),  # capitals: an acronym, left as typed
        ("Who runs the Wold Bank?", "Who runs the World Bank?"),
        ("Who paid Mr. Basset?", "Who paid Mr. Basset?"),  # two slips from "assad": another name
    ],
)
def test_a_name_one_slip_off_is_written_as_the_documents_spell_it(question: str, spelt: str) -> None:
    vocabulary = Vocabulary(words(ARTICLE), names(ARTICLE))
    assert respell(question, vocabulary) == spelt


def test_only_the_documents_names_are_offered() -> None:
    # "World" is one slip from "would", a word the article uses but never as a name.
    text = "He would not say."
    assert respell("Who won the World Cup?", Vocabulary(words(text), names(text))) == "Who won the World Cup?"
    # Two names one letter away ("Maher", "Mahir"): no telling which was meant.
    text = "Then Maher met Mahir."
    assert respell("Where did Mahr go?", Vocabulary(words(text), names(text))) == "Where did Mahr go?"
    assert respell("Where did Mahr go?", Vocabulary(words(text), ["maher"])) == "Where did Maher go?"
