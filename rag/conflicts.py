"""Conflicting sources: another retrieved passage that speaks of the same thing as the cited one and
names something else in place of the answer ("... fled to Iraq" against "... fled to Brazil").

A planted or outdated document must not win silently: when the passages disagree, the answer says so
and cites both sides. Without an entailment model the check is deliberately narrow, so that it stays
quiet on agreeing passages (measured on the eval sets' dev splits, which have no contradictions):
the answer must give one name or number, and the other passage must cover the question's words at least
as well as the cited passage, mention every name the question asks about, hold none of the answer's
names or numbers, bring a name or number of its own, and say much the same as the cited passage in
the embedder's eyes.
"""

from __future__ import annotations

from rag.chunking import sentence_spans
from rag.citations import strip_markers
from rag.embeddings import Embedder
from rag.schema import ScoredChunk
from rag.terms import QUESTION_WORDS, content_terms, covered, names, stem, words

QUESTION_TERMS = frozenset(stem(w) for w in QUESTION_WORDS)

# Cosine similarity (bundled MiniLM) above which two passages say much the same thing. "Maher al-Assad
# fled to Brazil." against "His brother, Maher al-Assad, ... also fled to Iraq." is 0.78; "Bashar
# al-Assad fled to Moscow." against the latter 0.59. Chosen on the dev splits (no false alarm there).
SAME_STATEMENT = 0.7


def _values(text: str) -> set[str]:
    """The names and numbers of a passage, sentence by sentence (a sentence's first word is a name only
    if the question checks would take it for one elsewhere: "However" and "Abstract" are not)."""
    return {n for a, b in sentence_spans(text) for n in names(text[a:b])}


def _mentions(text: str) -> set[str]:
    found = set(words(text))
    return found | {stem(w) for w in found}


def conflicting(
    answer: str, question: str, cited: list[ScoredChunk], others: list[ScoredChunk], embedder: Embedder
) -> list[ScoredChunk]:
    """The passages of ``others`` that contradict the answer drawn from ``cited``, most similar first."""
    asked = names(question)
    said = strip_markers(answer)
    # A short answer often opens with its value ("Iraq."); a sentence opens with any capitalised word.
    stated = [n for n in names(said, first_word=len(said.split()) <= 3) if n not in asked]
    if len(stated) != 1 or not cited or not others:
        return []  # one value to compare: a longer answer states several things at once
    known = set(asked) | set(stated)
    for p in cited:
        known |= _values(p.chunk.text)
    # words of the question and of the cited passages are never "another value", however capitalised
    known_stems = {stem(v) for v in known} | content_terms(question)
    for p in cited:
        known_stems |= content_terms(p.chunk.text)
    # An answer to the same question: it covers the question's words at least as well as the cited passage.
    wanted = content_terms(question) - QUESTION_TERMS
    bar = max(len(covered(wanted, content_terms(p.chunk.text))) for p in cited)
    if bar < 2:
        return []  # the cited passage shares too little with the question to tell what "the same" is
    candidates = []
    for p in others:
        if len(covered(wanted, content_terms(p.chunk.text))) < bar:
            continue  # answers less of the question than the cited passage: a neighbouring fact
        mentioned = _mentions(p.chunk.text)
        if not all(n in mentioned or stem(n) in mentioned for n in asked):
            continue  # about something else
        if any(n in mentioned or stem(n) in mentioned for n in stated):
            continue  # holds the answer: agrees, or at least does not contradict
        offered = {v for v in _values(p.chunk.text) if v not in known and stem(v) not in known_stems}
        if not any(w.isdigit() == v.isdigit() for w in offered for v in stated):
            continue  # offers no other name (for a name) or number (for a number) in its place
        candidates.append(p)
    if not candidates:
        return []
    # Sentence against sentence: a cited passage of several sentences says several things.
    said = [p.chunk.text[a:b] for p in cited for a, b in sentence_spans(p.chunk.text)]
    vectors = embedder.embed(said + [p.chunk.text for p in candidates])
    sims = vectors[len(said) :] @ vectors[: len(said)].T
    best = sims.max(axis=1)
    ranked = sorted(zip(best, range(len(candidates)), strict=True), reverse=True)
    return [candidates[i] for sim, i in ranked if sim >= SAME_STATEMENT]
