"""Conversations that push the limits: histories longer than the local model's context, answer-cache
keys that must not hold whole histories, and text that is not valid Unicode (lone surrogates)."""

from __future__ import annotations

import tracemalloc

from rag.cache import AnswerCache
from rag.schema import Answer, Turn
from tests.server import ARTICLE

MAHER = "Where did Maher al-Assad flee to?"
BAD = "\ud800"  # a lone surrogate: JSON can carry it ("\\ud800"), UTF-8 cannot


def long_history(total_chars: int = 20_000) -> list[Turn]:
    """Real article text in long assistant turns, ending with an exchange about Maher al-Assad."""
    text = " ".join(ARTICLE.read_text().split())
    history: list[Turn] = []
    while sum(len(t.content) for t in history) < total_chars:
        history += [
            Turn(role="user", content="Tell me everything about the fall of Damascus."),
            Turn(role="assistant", content=text),
        ]
    return [
        *history,
        Turn(role="user", content="Who is Maher al-Assad?"),
        Turn(role="assistant", content="Maher al-Assad is the brother of President Bashar al-Assad."),
    ]


# --- 8: answer-cache keys are digests ---
def test_cache_keys_are_digests_of_every_part() -> None:
    base = ("v1", "local", 4, "Where did he go?", [Turn(role="user", content="Who is Maher?")])
    key = AnswerCache.key(*base)
    assert len(key) == 64 and key == AnswerCache.key(*base)
    others = [
        ("v2", *base[1:]),
        ("v1", "extractive", *base[2:]),
        (*base[:2], 5, *base[3:]),
        (*base[:3], "Where did she go?", base[4]),
        (*base[:4], [Turn(role="assistant", content="Who is Maher?")]),
        (*base[:4], [Turn(role="user", content="Who is Maher?"), Turn(role="assistant", content="")]),
        (*base[:4], []),
        # the same characters split differently between parts
        (*base[:3], "Where did he go?Who is Maher?", []),
        (*base[:4], [Turn(role="user", content="Who is"), Turn(role="user", content="Maher?")]),
    ]
    keys = {AnswerCache.key(*o) for o in others}  # type: ignore[arg-type]
    assert len(keys) == len(others) and key not in keys


def test_cache_does_not_keep_the_histories_it_was_asked_with() -> None:
    """25 answers to conversations of 4 MiB each used to keep 100 MB alive in their keys."""
    cache = AnswerCache(size=25)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(25):
            history = [Turn(role="user", content=f"{i} " + "x" * (4 << 20))]
            cache.put(AnswerCache.key("v1", "local", 4, "Where did he go?", history), Answer(answer=f"a{i}"))
            del history
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == 25
    assert retained < 256 * 1024, f"{retained / 2**20:.1f} MiB kept for 25 answers"
    again = AnswerCache.key("v1", "local", 4, "Where did he go?", [Turn(role="user", content="24 " + "x" * (4 << 20))])
    hit = cache.get(again)
    assert hit is not None and hit.answer == "a24" and hit.cached
