"""Answers to questions already asked, kept while the index stays the same.

A checked answer takes seconds of local generation; the same question over an unchanged index gets
the same answer (generation is greedy), so the server returns the stored one at once. The key holds
the index version: any ingest, upload or delete bumps it, so a stale answer is never served.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from rag.schema import Answer, Turn


class AnswerCache:
    """A thread-safe LRU of ``Answer`` objects keyed by index version, generator, k and conversation."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self._items: OrderedDict[tuple[str, ...], Answer] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(version: str, llm: str, k: int, question: str, history: list[Turn]) -> tuple[str, ...]:
        turns = tuple(f"{t.role}:{t.content}" for t in history)
        return (version, llm, str(k), question, *turns)

    def get(self, key: tuple[str, ...]) -> Answer | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is None:
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return answer.model_copy(deep=True, update={"cached": True, "timings_ms": {}})

    def put(self, key: tuple[str, ...], answer: Answer) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = answer.model_copy(deep=True)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
