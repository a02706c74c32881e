"""Conflicting sources: another retrieved passage that speaks of the same thing as the cited one and
names something else in place of the answer ("... fled to Iraq" against "... fled to Brazil").

A planted or outdated document must not win silently: when the passages disagree, the answer says so
and cites both sides. Without an entailment model the check is deliberately narrow, so that it stays
quiet on agreeing passages (measured on the eval sets' dev splits, which have no contradictions):
the answer must give a name or number, and the other passage must mention every name the question
asks about, hold none of the answer's names or numbers, bring a name or number of its own, and say
much the same as the cited passage in the embedder's eyes.
"""

from __future__ import annotations

from rag.chunking import sentence_spans
from rag.citations import strip_markers
from rag.embeddings import Embedder
from rag.schema import ScoredChunk
from rag.terms import names, stem, words

# Cosine similarity (bundled MiniLM) above which two passages say much the same thing. "Maher al-Assad
# fled to Brazil." against "His brother, Maher al-Assad, ... also fled to Iraq." is 0.78; "Bashar
# al-Assad fled to Moscow." against the latter 0.59. Chosen on the dev splits (no false alarm there).
SAME_STATEMENT = 0.7


def _mentions(text: str) -> set[str]:
    found = set(words(text))
    return found | {stem(w) for w in found}


def conflicting(
    answer: str, question: str, cited: list[ScoredChunk], others: list[ScoredChunk], embedder: Embedder
) -> list[ScoredChunk]:
    """The passages of ``others`` that contradict the answer drawn from ``cited``, most similar first."""
    asked = names(question)
    stated = [n for n in names(strip_markers(answer), first_word=True) if n not in asked]
    if not stated or not cited or not others:
        return []
    known = set(asked) | set(stated)
    for p in cited:
        known |= set(names(p.chunk.text, first_word=True))
    candidates = []
    for p in others:
        mentioned = _mentions(p.chunk.text)
        if not all(n in mentioned or stem(n) in mentioned for n in asked):
            continue  # about something else
        if any(n in mentioned or stem(n) in mentioned for n in stated):
            continue  # holds the answer: agrees, or at least does not contradict
        if not set(names(p.chunk.text, first_word=True)) - known:
            continue  # offers no other name or number in its place
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
