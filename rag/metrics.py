"""Evaluation metrics as pure functions: answers, retrieval, abstention, citations, groundedness, latency.

Every function takes plain values and returns a number (or ``None`` when the metric is undefined, e.g. a
precision with nothing predicted), so each can be checked on small hand-made cases. Definitions are
documented in evals/README.md.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.chunking import sentence_spans
from rag.citations import markers
from rag.terms import content_terms, covered
from rag.verify import content_words

# A sentence counts as grounded when this share of its content words is in the passages it cites:
# the rest allows for the paraphrase a faithful answer uses ("left" for "departed").
GROUNDED_COVERAGE = 0.8

_PUNCTUATION = set(string.punctuation)
_category = unicodedata.category
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_LEADING_MARKERS = re.compile(r"^(?:\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+")


# --- answers ---------------------------------------------------------------------------------------
def normalize(text: str) -> str:
    """SQuAD normalisation (lower case, no punctuation, no articles, single spaces).

    Beyond SQuAD's ASCII punctuation, any Unicode punctuation goes too, and dashes split words: in
    "the Adriatic—fell" the answer "Adriatic" is a word of its own.
    """
    text = "".join(" " if ch == "-" or _category(ch) == "Pd" else ch for ch in text.lower())
    text = "".join(ch for ch in text if ch not in _PUNCTUATION and not _category(ch).startswith("P"))
    return " ".join(_ARTICLES.sub(" ", text).split())


_POLAR = {"yes", "no"}  # gold answers that are the reply's polarity, never a word found elsewhere in it


def contains_answer(prediction: str, golds: Sequence[str]) -> bool:
    """One of the gold answers appears in the normalised prediction as whole words; a gold "yes" or
    "no" is the reply's first word ("Yes, there was no speech" does not answer "no")."""
    pred = normalize(prediction)
    first = pred.split()[:1]
    for gold in map(normalize, golds):
        if gold in _POLAR:
            if first == [gold]:
                return True
        elif gold and f" {gold} " in f" {pred} ":
            return True
    return False


# The lenient match counts a reply as right when it holds at least this share of a gold answer's
# content words (stemmed, compared as the same term, the question's own words left out).
LENIENT_RECALL = 0.5


def lenient_match(prediction: str, golds: Sequence[str], question: str = "") -> bool:
    """The strict match, or: the reply holds at least half the content words of a gold answer that the
    question does not already contain, compared by stem and as the same term (see ``rag.terms``).

    "the European Union" matches "Europe", "the Avalanche" matches "Colorado Avalanche", "throne of
    England" matches "King of England"; "1756 to 1763" does not match "six years". Numbers must be
    equal. A gold answer made only of the question's words falls back to the strict match.
    """
    if contains_answer(prediction, golds):
        return True
    reply = content_terms(prediction)
    asked = content_terms(question)
    for gold in golds:
        if normalize(gold) in _POLAR:
            continue  # its first word, as in ``contains_answer``
        wanted = content_terms(gold)
        wanted -= covered(wanted, asked)
        if wanted and len(covered(wanted, reply)) / len(wanted) >= LENIENT_RECALL:
            return True
    return False


def exact_match(prediction: str, golds: Sequence[str]) -> bool:
    """The normalised prediction equals a normalised gold answer (SQuAD EM)."""
    pred = normalize(prediction)
    return any(pred == normalize(g) for g in golds)


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best SQuAD token F1 of the prediction against any gold answer.

    As in the official SQuAD 2.0 script, an empty gold list means "no answer": F1 is 1 for an empty
    prediction and 0 otherwise.
    """
    pred = normalize(prediction).split()
    if not golds:
        return float(not pred)
    return max(_f1(pred, normalize(g).split()) for g in golds)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


# --- retrieval -------------------------------------------------------------------------------------
# A ranking is given as, for each retrieved passage in rank order, the set of gold-support units it
# holds (an evidence quote or a supporting document each count as one unit).
def hit_at(ranking: Sequence[set[int]], k: int) -> bool:
    """At least one of the first ``k`` passages holds gold support."""
    return any(ranking[:k])


def recall_at(ranking: Sequence[set[int]], k: int, units: int) -> float | None:
    """Share of the gold-support units found in the first ``k`` passages; ``None`` without gold units."""
    if units <= 0:
        return None
    found: set[int] = set().union(*ranking[:k]) if ranking[:k] else set()
    return len(found) / units


def reciprocal_rank(ranking: Sequence[set[int]]) -> float:
    """1 / rank of the first passage holding gold support; 0 when none does."""
    return next((1.0 / rank for rank, units in enumerate(ranking, start=1) if units), 0.0)


# --- abstention (the positive class is "should abstain": the question is unanswerable) -------------
def precision_recall_f1(
    should_abstain: Sequence[bool], abstained: Sequence[bool]
) -> tuple[float | None, float | None, float | None]:
    """Precision, recall and F1 of the ``abstained`` flag against ``should_abstain``.

    Precision is ``None`` when the bot never abstained, recall when no question was unanswerable, and
    F1 (2TP / (2TP + FP + FN)) when neither happened.
    """
    pairs = list(zip(should_abstain, abstained, strict=True))
    tp = sum(s and a for s, a in pairs)
    fp = sum(a and not s for s, a in pairs)
    fn = sum(s and not a for s, a in pairs)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return precision, recall, f1


# --- citations -------------------------------------------------------------------------------------
def citation_precision(supporting: Sequence[bool]) -> float | None:
    """Share of an answer's cited passages that hold gold support; ``None`` when it cites nothing."""
    return sum(supporting) / len(supporting) if supporting else None


def citation_recall(supporting: Sequence[bool]) -> bool:
    """The answer has at least one citation that holds gold support."""
    return any(supporting)


# --- groundedness ----------------------------------------------------------------------------------
def answer_sentences(answer: str) -> list[str]:
    """Sentences of an answer; a marker after the full stop ("... Iraq. [1]") stays with its sentence."""
    sentences: list[str] = []
    for a, b in sentence_spans(answer):
        piece = answer[a:b]
        lead = _LEADING_MARKERS.match(piece)
        if lead and sentences:
            sentences[-1] += " " + lead.group().strip()
            piece = piece[lead.end() :]
        if re.search(r"\w", piece):
            sentences.append(piece.strip())
    return sentences


def sentence_coverage(answer: str, cited: dict[int, str]) -> list[float]:
    """For each answer sentence with content words, the share of them found in the passages it cites.

    ``cited`` maps marker numbers to passage texts. A sentence without a marker of its own is checked
    against all the answer's citations (answers often cite once, at the end); with no citations at
    all, coverage is 0.
    """
    coverage = []
    for sentence in answer_sentences(answer):
        words = content_words(sentence)
        if not words:
            continue
        own = [cited[n] for n in markers(sentence) if n in cited]
        evidence = own or list(cited.values())
        coverage.append(len(words & content_words(" ".join(evidence))) / len(words) if evidence else 0.0)
    return coverage


def grounded_sentences(answer: str, cited: dict[int, str], threshold: float = GROUNDED_COVERAGE) -> tuple[int, int]:
    """(grounded sentences, sentences with content words) of one answer."""
    coverage = sentence_coverage(answer, cited)
    return sum(c >= threshold for c in coverage), len(coverage)


# --- aggregation -----------------------------------------------------------------------------------
def mean(values: Sequence[float | bool | None]) -> float | None:
    """Mean of the defined values; ``None`` when there is none."""
    defined = [float(v) for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (linear interpolation, as numpy); ``None`` for no values."""
    return float(np.percentile(values, q)) if len(values) else None
