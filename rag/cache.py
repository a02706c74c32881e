"""Answers to questions already asked, kept while the index stays the same.

A checked answer takes seconds of local generation; the same question over an unchanged index gets
the same answer (generation is greedy), so the server returns the stored one at once. The key holds
the index version: any ingest, upload or delete bumps it, so a stale answer is never served.
Keys are digests, not the conversations themselves: a client may send megabytes of history, and the
cache must not keep them.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from rag.schema import Answer, Turn


class AnswerCache:
    """A thread-safe LRU of ``Answer`` objects keyed by index version, generator, k and conversation."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self._items: OrderedDict[str, Answer] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(version: str, llm: str, k: int, question: str, history: list[Turn]) -> str:
        """SHA-256 of everything that decides the answer; each part length-prefixed, so no two
        different requests share a key (``("ab", "c")`` vs ``("a", "bc")``)."""
        digest = hashlib.sha256()
        for part in (version, llm, str(k), question, *(x for t in history for x in (t.role, t.content))):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()

    def get(self, key: str) -> Answer | None:
        with self._lock:
            answer = self._items.get(key)
            if answer is None:
                return None
            self._items.move_to_end(key)
            self.hits += 1
        return answer.model_copy(deep=True, update={"cached": True, "timings_ms": {}})

    def put(self, key: str, answer: Answer) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = answer.model_copy(deep=True)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
