"""Typed data that crosses module borders (and the API): chunks, citations, answers, reports."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field


class Chunk(BaseModel):
    """A passage of a source document, with its place in the source."""

    id: str
    source: str
    text: str
    start: int
    end: int
    # Paged documents only (PDF pages, slides): where the passage is, for people.
    page: int | None = None
    page_end: int | None = None
    ocr: bool = False


class ScoredChunk(BaseModel):
    chunk: Chunk
    score: float = Field(description="Cosine similarity of the passage to the question (dense embedder).")
    fused: float = Field(0.0, description="Reciprocal-rank-fusion score of dense and BM25 rankings.")


class Citation(BaseModel):
    n: int = Field(description="The marker number used in the answer text: [n].")
    source: str
    page: int | None = Field(None, description="The page (PDF page or slide, from 1) the passage starts on.")
    page_end: int | None = Field(None, description="The last page, when the passage runs onto later pages.")
    ocr: bool = Field(False, description="The passage was read by OCR from a scanned page: check the page image.")
    chunk_id: str
    text: str
    start: int
    end: int
    score: float
    # What the citation was made from, so a client can later ask whether it still holds
    # (POST /api/citations/check, ``rag.sources.check``).
    file_sha256: str = Field("", description="SHA-256 of the cited file as indexed when the answer was made.")
    index_version: str = Field("", description="The index version the answer was made from.")
    stale: bool = Field(
        False, description="The cited file changed or was removed since the answer (set by a check, never at first)."
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(value: Any) -> Any:
    """Refuse text with lone surrogates (JSON allows "\\ud800"; UTF-8 cannot encode it, so it would
    fail deep inside the embedder or the response encoder instead of at the door)."""
    if isinstance(value, str) and (bad := _SURROGATE.search(value)):
        raise ValueError(
            f"the text is not valid Unicode: a lone surrogate U+{ord(bad.group()):04X} at character {bad.start()}"
        )
    return value


# A string that can be encoded as UTF-8: every text field a client sends. Checked before the string's
# own constraints, whose pattern matching would refuse it with a vaguer message.
UnicodeText = Annotated[str, BeforeValidator(valid_unicode)]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: UnicodeText


AbstainReason = Literal[
    "no_relevant_passage", "not_in_documents", "model_declined", "wrong_kind", "not_supported", "not_answered"
]


class Answer(BaseModel):
    answer: str
    citations: list[Citation] = []
    abstained: bool = False
    grounded: bool = Field(False, description="True when every claim carries a valid citation.")
    question: str = ""
    standalone_question: str = Field(
        "",
        description='The question as searched: follow-ups rewritten, a polite wrapper ("Can you tell me") left '
        'out, a name typed one letter off the documents\' spelling written as they spell it ("Maer" -> "Maher").',
    )
    timings_ms: dict[str, float] = {}
    cached: bool = Field(False, description="Served from the answer cache: the same question over the same index.")
    conflicting: bool = Field(
        False, description="The passages disagree: the answer says so and cites the other side too."
    )
    abstain_reason: AbstainReason | None = Field(
        None,
        description="Which check declined: no_relevant_passage (nothing retrieved is close to the question), "
        "not_in_documents (the question names something the documents never mention), model_declined (the "
        "generator said the passages do not answer), wrong_kind (e.g. no quantity for 'how many'), "
        "not_supported (the answer's words are not in the passages it cites), not_answered (asked whether the "
        "passages it cites answer the question as asked, the generator said no).",
    )
    abstain_detail: str = Field("", description="The reason in a sentence, for people.")
    nearest: list[Citation] = Field(
        [], description="With an abstention: the passages closest to the question, to read for oneself."
    )
    checks: dict[str, Any] = Field(
        {},
        description="What the checks measured (best similarity, names not found, decline probability, the "
        "generator's probability that the cited passages answer the question, its draft).",
    )


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
    cancelled: bool = Field(False, description="Stopped before the end: the files not listed are left as they were.")

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
    status: Literal["running", "done", "failed", "cancelled"] = "running"
    done: int = Field(0, description="Questions answered so far (over all configurations).")
    total: int = 0
    stage: str = ""
    error: str | None = None
    seconds: float | None = None
    results: list[dict[str, Any]] | None = Field(None, description="Per configuration: name and metrics.")
    table: list[dict[str, Any]] | None = Field(None, description="One row per metric, a column per configuration.")
    errors: list[dict[str, str]] = Field(
        [], description="Questions of the set left out because they cannot be asked: id and why."
    )
