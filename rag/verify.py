"""Checks that an answer says something its cited passages actually contain."""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from rag.citations import strip_markers

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "hundred",
    "hundreds",
    "thousand",
    "thousands",
    "million",
    "millions",
    "billion",
    "dozen",
    "dozens",
    "no",
    "none",
    "single",
}
_HOW_MUCH = re.compile(r"\bhow (?:many|much)\b", re.I)


def _stem(word: str) -> str:
    """A light suffix stripper: "serve", "serves" and "served" all become "serv"."""
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


# Words that frame an answer in the terms of its question ("When did it take place?" - "It took place
# in 1560") and state no fact of their own; counted as new words, they made right answers look
# unsupported (measured on the SQuAD 2.0 subset, see README "Evaluation").
_FRAME = {
    _stem(w)
    for w in (
        *("call", "called", "calls", "named", "known", "take", "takes", "took", "taken"),
        *("place", "happen", "happened", "occur", "occurred"),
    )
}


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(strip_markers(text).lower()) if w not in ENGLISH_STOP_WORDS}


def support(answer: str, question: str, evidence: list[str]) -> float:
    """Share of the answer's new content words (those not already in the question) found in the evidence.

    A low value means the answer brings in facts the cited passages do not contain, for example from the
    model's memory. An answer that only repeats the question's words says nothing and scores 0.
    """
    novel = content_words(answer) - content_words(question) - _FRAME
    if not novel:
        return 0.0
    found = content_words(" ".join(evidence))
    return len(novel & found) / len(novel)


def unsupported_numbers(answer: str, evidence: list[str]) -> set[str]:
    """Numbers in the answer that no evidence passage contains: the classic invented date or figure."""
    found = set(_NUMBER.findall(" ".join(evidence)))
    return set(_NUMBER.findall(strip_markers(answer))) - found


def answers_the_kind_asked(question: str, answer: str) -> bool:
    """A "how many / how much" question needs a quantity in the answer, not a related fact."""
    if not _HOW_MUCH.search(question):
        return True
    answer = strip_markers(answer)
    return bool(_NUMBER.search(answer)) or bool(set(_WORD.findall(answer.lower())) & _NUMBER_WORDS)
