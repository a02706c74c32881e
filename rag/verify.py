"""Checks that an answer says something its cited passages actually contain."""

from __future__ import annotations

import re

from rag.citations import strip_markers
from rag.terms import content_terms, covered

_WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# A number as a value: "1,000" (thousands groups) is 1000; "0.8-1.3" holds 0.8 and 1.3; "COVID-19" holds 19.
_NUMERAL = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+(?:\.\d+)?")
_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty"
)
_TENS = "thirty forty fifty sixty seventy eighty ninety"
_SPELLED = {w: str(i) for i, w in enumerate(_UNITS.split())}
_SPELLED |= {w: str(30 + 10 * i) for i, w in enumerate(_TENS.split())}
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


# Words that frame an answer in the terms of its question ("When did it take place?" - "It took place
# in 1560") and state no fact of their own; counted as new words, they made right answers look
# unsupported (measured on the SQuAD 2.0 subset, see README "Evaluation"). "X is a type of bacteria"
# classifies in the same empty words (covidqa-long dev split).
_FRAME = content_terms(
    "call called calls named known take takes took taken place happen happened occur occurred type kind sort"
)


def content_words(text: str) -> set[str]:
    return content_terms(strip_markers(text))


def numbers(text: str, spelled: bool = True) -> set[str]:
    """The numbers a text states, by value ("1,000" and "1000" are one; "ten" is "10" when ``spelled``)."""
    text = strip_markers(text)
    found = {n.replace(",", "") for n in _NUMERAL.findall(text)}
    if spelled:
        found |= {_SPELLED[w] for w in _WORD.findall(text.lower()) if w in _SPELLED}
    return found


def _facts(text: str, spelled: bool) -> set[str]:
    """Content words with numbers compared by value ("#10"), whatever their spelling."""
    return {t for t in content_words(text) if not t.isdigit()} | {f"#{n}" for n in numbers(text, spelled)}


def support(answer: str, question: str, evidence: list[str]) -> float:
    """Share of the answer's new content words (those not already in the question) found in the evidence.

    Words are compared by stem and as the same term ("elected"/"election", "European"/"Europe"), so a
    faithful paraphrase keeps its support. A low value means the answer brings in facts the cited
    passages do not contain, for example from the model's memory. An answer that only repeats the
    question's words says nothing and scores 0.
    """
    said = _facts(answer, spelled=False)
    novel = said - covered(said, _facts(question, spelled=True)) - _FRAME
    if not novel:
        return 0.0
    return len(covered(novel, _facts(" ".join(evidence), spelled=True))) / len(novel)


def unsupported_numbers(answer: str, evidence: list[str], question: str = "") -> set[str]:
    """Numbers in the answer that neither the question nor any evidence passage states: the classic
    invented date or figure. Compared by value, so "1,000 beds" is supported by "1000 bed" and "10 days"
    by "ten days"; a number the question gives ("COVID-19") is not the answer's claim."""
    return numbers(answer, spelled=False) - numbers(question) - numbers(" ".join(evidence))


def answers_the_kind_asked(question: str, answer: str) -> bool:
    """A "how many / how much" question needs a quantity in the answer, not a related fact."""
    if not _HOW_MUCH.search(question):
        return True
    answer = strip_markers(answer)
    return bool(_NUMBER.search(answer)) or bool(set(_WORD.findall(answer.lower())) & _NUMBER_WORDS)


# "not", "never", "n't", "non-" ...: a question about what is NOT so ("Where didn't the settlers live?")
# is answered only by a passage that itself says what is not so; SQuAD 2.0's crowd workers made many
# unanswerable questions by inserting a negation into an answerable one (evals/README.md).
_NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|without|non|cannot)\b|n't\b", re.I)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text.replace("\u2019", "'")))  # a typographic apostrophe as a plain one


def negation_unmet(question: str, evidence: list[str]) -> bool:
    """The question asks about what is not so, and no evidence passage says anything is not."""
    return _negated(question) and not any(_negated(e) for e in evidence)
