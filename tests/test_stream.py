"""The one answer stream type: tokens, then the final Answer, drained in one place (``result``)."""

from __future__ import annotations

import pytest

from rag.errors import Busy
from rag.queue import Gate
from rag.schema import Answer
from rag.stream import AnswerStream

FINAL = Answer(answer="Maher al-Assad fled to Iraq. [1]", grounded=True)


def test_tokens_then_result() -> None:
    stream = AnswerStream(iter(["Maher", " fled", FINAL]))
    assert list(stream.tokens()) == ["Maher", " fled"]
    assert stream.result() is FINAL
    assert stream.result() is FINAL  # read once, kept


def test_result_drains_what_is_left_and_gives_the_place_back() -> None:
    gate = Gate(max_waiting=0)
    stream = AnswerStream(iter(["a", "b", FINAL]), gate.admit())
    first = next(iter(stream))
    assert first == "a" and gate.admitted == 1
    assert stream.result() is FINAL
    assert gate.admitted == 0
    gate.admit().release()  # the place is free again


def test_closing_early_gives_the_place_back_and_stops_generation() -> None:
    stopped: list[bool] = []

    def events():  # type: ignore[no-untyped-def]
        try:
            yield "a"
            yield FINAL
        finally:
            stopped.append(True)

    gate = Gate(max_waiting=0)
    stream = AnswerStream(events(), gate.admit())
    assert next(iter(stream)) == "a"
    with pytest.raises(Busy):
        gate.admit()
    stream.close()
    assert stopped == [True] and gate.admitted == 0


def test_a_stream_without_an_answer_is_a_bug_not_a_user_error() -> None:
    with pytest.raises(RuntimeError, match="without an Answer"):
        AnswerStream(iter(["a"])).result()
