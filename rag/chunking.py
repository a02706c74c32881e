"""Split text into overlapping, sentence-aware chunks with stable ids and exact character spans."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import pairwise

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.loaders import Page
from rag.schema import Chunk

# The whitespace after a sentence end: not after "Mr." or an initial, and only before what can start
# a sentence. Rule-based on purpose: no model, no download, and good enough for English prose.
SENTENCE_BREAK = (
    r"(?:(?<=[.!?])|(?<=[.!?][\"\u201d\u2019)]))"
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bSt\.)(?<!\bJr\.)(?<!\bSr\.)(?<!\bMrs\.)(?<!\bvs\.)(?<!\b[A-Z]\.)"
    r"\s+(?=[A-Z0-9\"\u201c'(\[])"
)
# A line break ends a sentence, except before a lowercase letter: that is a line wrapped inside a
# sentence (PDF text comes hard-wrapped), and cutting there gave half sentences to chunks, focusing,
# citations and the extractive answer. A blank line always ends one.
LINE_BREAK = r"\n(?![a-z])"
_SENTENCE_RE = re.compile(SENTENCE_BREAK + r"|\n\s*\n\s*|" + LINE_BREAK)
# Part of the chunker's name recorded per file: a file chunked by an earlier version is chunked again
# (unchanged passages keep their ids and embeddings).
CHUNKER_VERSION = 2

# Paragraphs first, then lines, then sentence ends, then words: a chunk breaks mid-sentence only when
# one sentence is longer than a chunk.
_SEPARATORS = [r"\n\n", LINE_BREAK, SENTENCE_BREAK, r"(?<=[;:])\s+", r"\s+", ""]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of ``text``, trimmed of surrounding whitespace."""
    spans, start = [], 0
    for m in [*_SENTENCE_RE.finditer(text), None]:
        end = m.start() if m else len(text)
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            spans.append((start + lead, start + len(piece.rstrip())))
        if m:
            start = m.end()
    return spans


def sha256(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=_SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def chunk_text(
    text: str,
    source: str,
    splitter: RecursiveCharacterTextSplitter,
    pages: Sequence[Page] = (),
    by_page: bool = False,
) -> list[Chunk]:
    """Chunks of ``text``. Ids derive from source and content, so an unchanged chunk keeps its id (and a
    passage that moved to another page keeps its embedding). With ``pages``, each chunk gets the page it
    starts on and, when it runs onto later pages, the page it ends on; ``by_page`` splits each page on its
    own (slides: short, and each a unit of its own), so no chunk runs over two."""
    starts = [p.start for p in pages]
    pieces = [(0, text)]
    if by_page and pages:
        bounds = [*starts, len(text)]
        pieces = [(lo, text[lo:hi]) for lo, hi in pairwise(bounds)]
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for offset, piece in pieces:
        for doc in splitter.create_documents([piece]):
            body = doc.page_content
            start = int(doc.metadata["start_index"])
            if start < 0 or piece[start : start + len(body)] != body:  # never store a wrong span
                start = piece.find(body)
            start += offset
            content_hash = sha256(body)
            # The same passage twice in one file gets distinct, still deterministic, ids.
            nth = seen.get(content_hash, 0)
            seen[content_hash] = nth + 1
            chunk = Chunk(
                id=sha256(f"{source}\x00{content_hash}\x00{nth}")[:32],
                source=source,
                text=body,
                start=start,
                end=start + len(body),
            )
            if starts:  # paged documents only: plain text does no per-chunk work here
                first = max(bisect_right(starts, chunk.start) - 1, 0)
                last = max(bisect_right(starts, chunk.end - 1) - 1, first)
                chunk.page = pages[first].number
                chunk.page_end = pages[last].number if last > first else None
                chunk.ocr = any(p.ocr for p in pages[first : last + 1])
            chunks.append(chunk)
    return chunks
