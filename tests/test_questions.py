"""How people type questions: background before them, polite wrappers around them (pure functions)."""

from __future__ import annotations

import pytest

from rag.questions import asked_part, direct


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
    ],
)
def test_a_polite_wrapper_is_taken_off(question: str, plain: str) -> None:
    assert direct(question) == plain
