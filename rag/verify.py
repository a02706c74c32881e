"""Checks that an answer says something its cited passages actually contain.

``check_answer`` is the whole policy on a drafted answer, as a pure function of strings: which passages
it may cite, or which check declines it. The engine (``rag.answer``) runs it on the model's draft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.chunking import sentence_spans
from rag.citations import is_abstention, markers, strip_markers
from rag.questions import asked_part
from rag.schema import AbstainReason
from rag.terms import content_terms, covered

# Below this share of the answer's new words found in its cited passages, the answer is treated as
# not supported (it brings in facts from elsewhere) and the bot abstains. Chosen on evals/seed.jsonl.
MIN_SUPPORT = 0.6

_WORD = re.compile(r"[a-z0-9]+")
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
    "half",  # fractions: "over half of the patients" answers how many
    "halves",
    "third",
    "thirds",
    "quarter",
    "quarters",
}
_HOW_MUCH = re.compile(r"\bhow (?:many|much)\b", re.I)
_POLAR = re.compile(r"(?:yes|no)\b", re.I)


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
    """A "how many / how much" question needs a quantity in the answer, not a related fact; a number
    the question gives ("How many were released on December 8?") is not one."""
    if not _HOW_MUCH.search(question):
        return True
    answer = strip_markers(answer)
    return bool(numbers(answer, spelled=False) - numbers(question, spelled=False)) or bool(
        set(_WORD.findall(answer.lower())) & _NUMBER_WORDS
    )


# "not", "never", "n't", "non-" ...: a question about what is NOT so ("Where didn't the settlers live?")
# is answered only by a passage that itself says what is not so; SQuAD 2.0's crowd workers made many
# unanswerable questions by inserting a negation into an answerable one (evals/README.md).
_NEGATION = re.compile(r"\b(?:not|never|no|none|neither|nor|without|non|cannot)\b|n't\b", re.I)
_WHY = re.compile(r"\bwhy\b", re.I)


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text.replace("\u2019", "'")))  # a typographic apostrophe as a plain one


def negation_unmet(question: str, evidence: list[str]) -> bool:
    """The question asks about what is not so, and no evidence passage says anything is not. Only what
    is asked counts ("I couldn't find it. Where did he go?" asks no negation), and not a question
    asking why something is not so ("Why didn't the talks work out?"): its answer is a cause, which
    passages state without a negation ("were unsuccessful, as ...")."""
    asked = asked_part(question)
    return _negated(asked) and not _WHY.search(asked) and not any(_negated(e) for e in evidence)


@dataclass(frozen=True)
class Verdict:
    """What the checks made of a draft: the text to show and the passages it cites (indexes into the
    evidence, in the order of its markers), or the check that declined it and why."""

    text: str = ""
    cited: tuple[int, ...] = ()
    declined: AbstainReason | None = None
    detail: str = ""
    quoted: bool = False  # the documents' sentences in place of a yes or no (``quote``): it claims nothing


def check_answer(
    draft: str,
    question: str,
    evidence: list[str],
    decline_prob: float | None = None,
    decline_threshold: float = 1.0,
) -> Verdict:
    """Apply the checks that make a drafted answer trustworthy, or say which one declines it.

    ``evidence`` holds the texts of the numbered passages the model read ([1] is ``evidence[0]``). An
    answer stands only if its words and numbers are found in the passages it cites. When the model cites
    the wrong passage or none, the claim is attributed to the smallest set of passages that supports it,
    if any, and the markers are rewritten; an answer no passage supports is declined, and so is one the
    model itself leaned to decline (``decline_prob`` at or over ``decline_threshold``).
    """
    text = " ".join(draft.split())
    if not text or is_abstention(text):
        return Verdict(declined="model_declined", detail="The generator found no answer in the passages.")
    if decline_prob is not None and decline_prob >= decline_threshold:
        return Verdict(
            declined="model_declined",
            detail=f"The generator leaned to declining (probability {decline_prob:.2f}).",
        )
    if not answers_the_kind_asked(question, text):
        return Verdict(declined="wrong_kind", detail="The answer does not give what the question asks for.")
    bare = strip_markers(text)
    cited = [m - 1 for m in markers(text) if 1 <= m <= len(evidence)]
    if not (cited and supported(bare, question, [evidence[i] for i in cited])):
        chosen = attribute(bare, question, evidence, cited)
        if chosen is None and _POLAR.match(bare):
            # A yes or a no restates the question, whose words the passages hold either way: no word
            # check tells them apart, and the local model says yes to about half the false statements
            # put to it (evals/yesno). The documents' own sentence is given instead, for the reader to
            # judge; without one close enough, the abstention says why.
            return quote(question, evidence) or Verdict(
                declined="not_supported",
                detail=f"The drafted answer is a yes or no ({bare!r}), which cannot be checked against the "
                "passages word by word: read the passages below, or ask what they say (who, what, when ...).",
            )
        if chosen is None:
            return Verdict(declined="not_supported", detail=f"No passage supports the drafted answer: {bare!r}.")
        marks = "".join(f"[{i + 1}]" for i in chosen)
        # the markers before the closing full stop, where the model puts its own
        text = f"{bare[:-1]} {marks}." if bare.endswith(".") else f"{bare} {marks}"
        cited = chosen
    if negation_unmet(question, [evidence[i] for i in cited]):
        return Verdict(
            declined="not_supported",
            detail="The question asks about what is not so; the cited passages say no such thing.",
        )
    return Verdict(text=text, cited=tuple(cited))


def quote(question: str, evidence: list[str]) -> Verdict | None:
    """The sentences of the passages holding the most of the question's words and numbers (at least
    ``MIN_SUPPORT`` of them; two when two tie), quoted and cited: 'The documents say: "..." [n]'. None
    when no sentence holds enough."""
    asked = _facts(question, spelled=True) - _FRAME
    found = [
        (len(covered(asked, _facts(text[a:b], spelled=True))), i, text[a:b].strip())
        for i, text in enumerate(evidence)
        for a, b in sentence_spans(text)
    ]
    most = max((words for words, _, _ in found), default=0)
    if not asked or most < MIN_SUPPORT * len(asked):
        return None
    best = [(i, sentence) for words, i, sentence in found if words == most][:2]  # in the passages' order
    said = " and ".join(f'"{sentence}" [{i + 1}]' for i, sentence in best)
    return Verdict(text=f"The documents say: {said}", cited=tuple(dict.fromkeys(i for i, _ in best)), quoted=True)


def supported(answer: str, question: str, evidence: list[str]) -> bool:
    """Enough of the answer's new words, and every number it states, are in ``evidence``."""
    return support(answer, question, evidence) >= MIN_SUPPORT and not unsupported_numbers(answer, evidence, question)


def attribute(answer: str, question: str, evidence: list[str], cited: list[int]) -> list[int] | None:
    """The smallest set of passages (one, or two) that supports the answer, preferring those it cited.

    A small model often cites the wrong number, or one passage for a sentence that draws on two.
    """
    n = len(evidence)
    options = [[i] for i in range(n)]
    options += [sorted({*cited, i}) for i in range(n) if i not in cited and len(cited) == 1]
    options += [[i, j] for i in range(n) for j in range(i + 1, n)]
    backed = [o for o in options if supported(answer, question, [evidence[i] for i in o])]
    if not backed:
        return None
    # fewest passages first, then those the model cited, then the strongest support
    return min(
        backed,
        key=lambda o: (len(o), -len(set(o) & set(cited)), -support(answer, question, [evidence[i] for i in o])),
    )
