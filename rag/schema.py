"""Typed data that crosses module borders (and the API): chunks, citations, answers, reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Chunk(BaseModel):
    """A passage of a source document, with its place in the source."""

    id: str
    source: str
    text: str
    start: int
    end: int


class ScoredChunk(BaseModel):
    chunk: Chunk
    score: float = Field(description="Cosine similarity of the passage to the question (dense embedder).")
    fused: float = Field(0.0, description="Reciprocal-rank-fusion score of dense and BM25 rankings.")


class Citation(BaseModel):
    n: int = Field(description="The marker number used in the answer text: [n].")
    source: str
    chunk_id: str
    text: str
    start: int
    end: int
    score: float


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Answer(BaseModel):
    answer: str
    citations: list[Citation] = []
    abstained: bool = False
    grounded: bool = Field(False, description="True when every claim carries a valid citation.")
    question: str = ""
    standalone_question: str = Field("", description="The question as searched, after follow-up rewriting.")
    timings_ms: dict[str, float] = {}
    cached: bool = Field(False, description="Served from the answer cache: the same question over the same index.")


class FileResult(BaseModel):
    source: str
    status: Literal["added", "updated", "unchanged", "skipped", "removed"]
    chunks_added: int = 0
    chunks_removed: int = 0
    reason: str = ""


class IngestReport(BaseModel):
    files: list[FileResult] = []
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


class DocumentInfo(BaseModel):
    id: str = Field(description="Stable id of the document (derived from its source name).")
    source: str
    chunks: int
    file_hash: str


class EvalJob(BaseModel):
    """An evaluation run started from the API or UI; ``results`` are filled in when it is done."""

    id: str
    evalset: str
    status: Literal["running", "done", "failed"] = "running"
    done: int = Field(0, description="Questions answered so far (over all configurations).")
    total: int = 0
    stage: str = ""
    error: str | None = None
    seconds: float | None = None
    results: list[dict[str, Any]] | None = Field(None, description="Per configuration: name and metrics.")
    table: list[dict[str, Any]] | None = Field(None, description="One row per metric, a column per configuration.")
