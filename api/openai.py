"""OpenAI-compatible /v1/models and /v1/chat/completions, so OpenAI clients and chat front-ends can use
the bot as a model. Citations ride along: a ``citations`` field and a "Sources" footer in the text."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.background import BackgroundTask

from api.deps import OPENAI_ERRORS, Service
from api.schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    Delta,
    Model,
    ModelList,
)
from rag.citations import where
from rag.errors import InvalidQuestion, NotFound, RagError
from rag.schema import Answer, Turn
from rag.service import RagService
from rag.stream import AnswerStream

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], responses=OPENAI_ERRORS)

BASE_MODEL = "rag"
FOOTER = "\n\nSources:\n"


def model_ids(service: RagService) -> dict[str, str | None]:
    """Model id -> generator: ``rag`` is the server's default, ``rag-<generator>`` picks one."""
    return {BASE_MODEL: None} | {f"{BASE_MODEL}-{kind}": kind for kind in service.generators()}


def with_sources(answer: Answer) -> str:
    if not answer.citations:
        return answer.answer
    lines = [f'[{c.n}] {where(c)}: "{" ".join(c.text.split())}"' for c in answer.citations]
    return answer.answer + FOOTER + "\n".join(lines)


def parse(body: ChatCompletionRequest, service: RagService) -> tuple[str, list[Turn], str | None]:
    """The last user message is the question; earlier user/assistant turns are the history."""
    models = model_ids(service)
    if body.model not in models:
        raise NotFound(f"the model '{body.model}' does not exist; available: {', '.join(models)}")
    turns = [m for m in body.messages if m.role in {"user", "assistant"}]
    if not turns or turns[-1].role != "user":
        raise InvalidQuestion("the last message must be a user message with the question")
    history = [Turn(role=m.role, content=m.text().split(FOOTER)[0]) for m in turns[:-1]]  # type: ignore[arg-type]
    return turns[-1].text(), history, models[body.model]


@router.get("/models", response_model=ModelList)
def list_models(service: Service) -> ModelList:
    return ModelList(data=[Model(id=m) for m in model_ids(service)])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"application/json": {}, "text/event-stream": {}}}},
)
def chat_completions(body: ChatCompletionRequest, service: Service) -> ChatCompletion | EventSourceResponse:
    question, history, llm = parse(body, service)
    stream = service.stream(question, history, llm=llm)
    if body.stream:
        return EventSourceResponse(completion_chunks(stream, body.model), background=BackgroundTask(stream.close))
    answer = stream.result()
    return ChatCompletion(
        model=body.model,
        choices=[Choice(message=AssistantMessage(content=with_sources(answer)))],
        citations=answer.citations,
        abstained=answer.abstained,
    )


def completion_chunks(stream: AnswerStream, model: str) -> Iterator[bytes]:
    """The checked answer as chunks: role first (at once), then the text, then citations, then [DONE].

    Only the checked answer is sent, never the raw draft: a client cannot take back text it has shown,
    and the draft may turn into an abstention when no passage supports it.
    """
    head = ChatCompletionChunk(id=f"chatcmpl-{time.time_ns()}", created=int(time.time()), model=model, choices=[])

    def chunk(delta: Delta, **extra: object) -> bytes:
        data = head.model_copy(update={"choices": [ChunkChoice(delta=delta, **extra)]})  # type: ignore[arg-type]
        return format_sse_event(data_str=data.model_dump_json(exclude_none=True))

    yield chunk(Delta(role="assistant", content=""))
    try:
        answer = stream.result()
    except RagError as exc:
        yield chunk(Delta(content=f"Error: {exc}"), finish_reason="stop")
        yield format_sse_event(data_str="[DONE]")
        return
    text = with_sources(answer)
    for piece in _pieces(text):
        yield chunk(Delta(content=piece))
    done = head.model_copy(
        update={"choices": [ChunkChoice(delta=Delta(), finish_reason="stop")], "abstained": answer.abstained}
    ).model_dump(mode="json", exclude_none=True)
    # citations whole, as the non-streamed reply gives them (a citation without a page says page: null)
    done["citations"] = [c.model_dump(mode="json") for c in answer.citations]
    yield format_sse_event(data_str=json.dumps(done))
    yield format_sse_event(data_str="[DONE]")


def _pieces(text: str, size: int = 3) -> Iterator[str]:
    """A few words per chunk, so front-ends render the answer progressively."""
    words = text.split(" ")
    for i in range(0, len(words), size):
        yield " ".join(words[i : i + size]) + (" " if i + size < len(words) else "")
