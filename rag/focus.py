"""Context focusing: keep only the sentences of the retrieved passages that bear on the question.

On 2 CPU cores the local LLM reads about 60-100 prompt tokens a second, so every sentence it reads
costs time, and a 1.5B model answers better from a few relevant lines than from whole passages.
Each kept sentence keeps its exact span in the source, so a citation points at the words used.
"""

from __future__ import annotations

import numpy as np

from rag.chunking import sentence_spans
from rag.embeddings import Embedder
from rag.schema import Chunk, ScoredChunk


def focus(question: str, passages: list[ScoredChunk], embedder: Embedder, max_sentences: int) -> list[ScoredChunk]:
    """The ``max_sentences`` sentences most similar to the question, neighbours merged, best first."""
    candidates: list[tuple[Chunk, int, int]] = []  # parent chunk, start and end within the chunk
    seen: set[tuple[str, int]] = set()
    for p in passages:
        for a, b in sentence_spans(p.chunk.text):
            key = (p.chunk.source, p.chunk.start + a)
            if key not in seen:  # overlapping chunks repeat sentences
                seen.add(key)
                candidates.append((p.chunk, a, b))
    if not candidates:
        return passages
    vectors = embedder.embed([question, *(c.text[a:b] for c, a, b in candidates)])
    sims = vectors[1:] @ vectors[0]
    keep = sorted(np.argsort(-sims)[:max_sentences], key=lambda i: (candidates[i][0].id, candidates[i][1]))

    # Sentences next to each other in one chunk become one passage: the model reads them in context.
    groups: list[list[int]] = []
    for i in keep:
        if (
            groups
            and candidates[groups[-1][-1]][0].id == candidates[i][0].id
            and _adjacent(candidates, groups[-1][-1], i)
        ):
            groups[-1].append(i)
        else:
            groups.append([i])
    focused = []
    for g in groups:
        chunk, a, b = candidates[g[0]][0], candidates[g[0]][1], candidates[g[-1]][2]
        text = chunk.text[a:b]
        focused.append(
            ScoredChunk(
                chunk=chunk.model_copy(update={"text": text, "start": chunk.start + a, "end": chunk.start + b}),
                score=round(float(max(sims[i] for i in g)), 4),
            )
        )
    return sorted(focused, key=lambda s: s.score, reverse=True)


def _adjacent(candidates: list[tuple[Chunk, int, int]], i: int, j: int) -> bool:
    chunk, _, end = candidates[i]
    return not chunk.text[end : candidates[j][1]].strip()
