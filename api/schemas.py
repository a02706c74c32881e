"""Request and response bodies of the HTTP API (the ``rag.schema`` models are reused where they fit)."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from rag.evalset import EvalItem
from rag.schema import Citation, DocumentInfo, FileResult, Turn, UnicodeText


class AskRequest(BaseModel):
    question: UnicodeText = Field(
        min_length=1, pattern=r"\S", description="The question, in plain language (at most RAG_MAX_QUESTION_CHARS)."
    )
    history: list[Turn] = Field([], max_length=50, description="Earlier turns, oldest first, for follow-ups.")
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve (default RAG_TOP_K).")
    llm: UnicodeText | None = Field(None, description="Generator to use (see GET /api/info); default RAG_LLM.")


class EvalRequest(BaseModel):
    evalset: str | None = Field(None, description="A set of GET /api/evalsets (with its own corpus, if any).")
    items: list[EvalItem] | None = Field(
        None, max_length=5000, description="Or the questions themselves, evaluated against the current index."
    )
    k: int | None = Field(None, ge=1, le=50, description="Passages per question (default RAG_TOP_K).")
    limit: int | None = Field(None, ge=1, description="Only the first N questions.")
    compare: bool = Field(False, description="Also run dense-only, BM25-only and the naive baseline.")


class EvalSets(BaseModel):
    evalsets: list[str]


class Error(BaseModel):
    detail: str | list[dict[str, Any]] = Field(description="What was wrong: a message, or per-field errors.")


class DocumentList(BaseModel):
    collection: str
    documents: list[DocumentInfo]


class UploadResult(BaseModel):
    file: FileResult
    document: DocumentInfo | None = Field(None, description="The document as indexed now.")


class Info(BaseModel):
    generators: list[str]
    default_generator: str
    top_k: int
    max_question_chars: int
    examples: list[str]


class Readiness(BaseModel):
    ready: bool
    models_loaded: bool
    chunks: int = Field(description="Passages in the index (0: upload documents first).")
    generator: str
    reason: str


# --- OpenAI-compatible chat completions (the subset chat front-ends use) ---
class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: UnicodeText | None = None


def _content_kind(value: Any) -> str | None:
    if value is None:
        return "none"
    return "text" if isinstance(value, str) else "parts" if isinstance(value, list) else None


# Tagged by the JSON type, so a bad content part is reported as such and not as "not a string".
Content = Annotated[
    Annotated[UnicodeText, Tag("text")] | Annotated[list[TextPart], Tag("parts")] | Annotated[None, Tag("none")],
    Discriminator(
        _content_kind,
        custom_error_type="content_type",
        custom_error_message="content must be a string, a list of content parts or null",
    ),
]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Content = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return " ".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # Sampling options (temperature, top_p, ...) are accepted and ignored: answers are greedy on purpose.
    model_config = ConfigDict(extra="allow")
    model: UnicodeText = "rag"
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: Literal["stop"] | None = None


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


class ChatCompletion(BaseModel):
    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    choices: list[Choice]
    citations: list[Citation] = Field([], description="The passages the answer cites: [n] in the text.")
    abstained: bool = False


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    citations: list[Citation] | None = None
    abstained: bool | None = None


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "rag"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    code: str | None = None
    param: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody


def openai_error(message: str, kind: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "code": code, "param": None}}
