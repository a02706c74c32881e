"""Citation markers: parse, validate against the passages given, renumber, and check support."""

from __future__ import annotations

import re

from rag.schema import Citation, ScoredChunk

# [2], [1, 3], [Passage 2], [source 1; 2]
_MARKER = re.compile(r"\s*\[(?:passages?|sources?|doc(?:ument)?s?)?\s*(\d+(?:\s*[,;]\s*\d+)*)\]", re.IGNORECASE)
_ABSTAIN = re.compile(
    r"\b(do(?:es)? not|don't|doesn't|did not|didn't|cannot|can't|unable to|no)\s+"
    r"(say|state|mention|contain|provide|include|specify|answer|find|indicate|information|be determined|determine|know)"
    r"|\bnot (?:mentioned|stated|specified|provided|given|included|available|found|clear)\b"
    r"|\bno (?:information|mention|answer|details?|data)\b",
    re.IGNORECASE,
)


# A marker the model began and never closed, as when it copies a paper's own reference list: "35-50% [3, [12]".
_DANGLING = re.compile(r"\s*\[\s*\d+(?:\s*[,;]\s*\d+)*\s*[,;]?(?![\s\d,;]*\])")
# Removing a marker can leave a space before the sentence's punctuation: "35-50% [3] ." -> "35-50%."
_SPACE_BEFORE_STOP = re.compile(r"\s+(?=[.,;:!?](?:\s|$))")


def _tidy(text: str) -> str:
    return _SPACE_BEFORE_STOP.sub("", " ".join(text.split()))


def is_abstention(text: str) -> bool:
    return bool(_ABSTAIN.search(text))


def markers(text: str) -> list[int]:
    """Marker numbers in order of first appearance."""
    seen: list[int] = []
    for m in _MARKER.finditer(text):
        for n in re.split(r"\s*[,;]\s*", m.group(1)):
            if int(n) not in seen:
                seen.append(int(n))
    return seen


def strip_markers(text: str) -> str:
    """The text without any marker, and without a dangling "Passage" lead-in such as "Passage [2] says"."""
    text = re.sub(r"\b(?:according to |as stated in |as )?(?:passages?|sources?)\s*(?=\[)", "", text, flags=re.I)
    return _tidy(_MARKER.sub("", _DANGLING.sub("", text)))


def resolve(text: str, passages: list[ScoredChunk]) -> tuple[str, list[Citation]]:
    """Keep markers that point to a given passage, drop the others, renumber 1..n by first appearance."""
    text = _DANGLING.sub("", text)
    valid = [n for n in markers(text) if 1 <= n <= len(passages)]
    renumber = {old: new for new, old in enumerate(valid, start=1)}

    def sub(m: re.Match[str]) -> str:
        kept = [renumber[int(n)] for n in re.split(r"\s*[,;]\s*", m.group(1)) if int(n) in renumber]
        return " " + "".join(f"[{n}]" for n in dict.fromkeys(kept)) if kept else ""

    clean = _tidy(_MARKER.sub(sub, text))
    return clean, [citation(renumber[old], passages[old - 1]) for old in valid]


def citation(n: int, passage: ScoredChunk) -> Citation:
    """The citation [n] of a passage: where it is (source, page, span), its text and score."""
    # the chunk's location and text carry over under the same names
    located = passage.chunk.model_dump(include={"source", "page", "page_end", "ocr", "text", "start", "end"})
    return Citation(n=n, chunk_id=passage.chunk.id, score=passage.score, **located)


def where(c: Citation) -> str:
    """Where a citation points, for people: "report.pdf, p. 12", "deck.pptx, pp. 3-4 (OCR)", "notes.txt"."""
    if c.page is None:
        return c.source
    pages = f"pp. {c.page}-{c.page_end}" if c.page_end and c.page_end != c.page else f"p. {c.page}"
    return f"{c.source}, {pages}{' (OCR)' if c.ocr else ''}"
