"""The one stream type every caller reads an answer from: tokens, then the final, checked ``Answer``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Protocol

from rag.schema import Answer


class QueuePlace(Protocol):
    """A place in a queue (``rag.queue.Ticket``): entered to wait for the turn, released when done."""

    def __enter__(self) -> object: ...

    def __exit__(self, *exc: object) -> None: ...

    def release(self) -> None: ...


class AnswerStream:
    """Tokens as the generator writes them, then the final ``Answer``; drained in one place (``result``).

    It may hold a place in the generation queue (``place``): generation waits for its turn when the
    stream is first iterated, and the place is given back when the stream is exhausted or closed.
    Tokens are a draft; the ``Answer`` at the end is what to show.
    """

    def __init__(self, events: Iterator[str | Answer], place: QueuePlace | None = None) -> None:
        self._events = events
        self._place = place
        self._iter: Iterator[str | Answer] | None = None
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[str | Answer]:
        if self._iter is None:
            self._iter = self._run()
        return self._iter

    def _run(self) -> Iterator[str | Answer]:
        try:
            with self._place or nullcontext():
                for event in self._events:
                    if isinstance(event, Answer):
                        self._answer = event
                    yield event
        finally:
            self.close()

    def tokens(self) -> Iterator[str]:
        """The draft tokens only; the ``Answer`` that ends the stream is kept for ``result``."""
        for event in self:
            if isinstance(event, str):
                yield event

    def result(self) -> Answer:
        """Read the stream to its end (whatever is left of it) and return the final ``Answer``."""
        for _ in self:
            pass
        if self._answer is None:
            raise RuntimeError("the answer stream ended without an Answer")
        return self._answer

    def close(self) -> None:
        """Give back the place in the queue and stop generation (safe to call more than once)."""
        if self._place is not None:
            self._place.release()
        close = getattr(self._events, "close", None)
        if close is not None:
            close()
