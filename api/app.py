"""The FastAPI app: /api (ask, stream, documents), /v1 (OpenAI-compatible), health probes, UI at /ui."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from fastapi import APIRouter, FastAPI, File, Request, Response, UploadFile, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.sse import EventSourceResponse, format_sse_event
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from api.calibration import router as calibration_router
from api.deps import ERRORS, Service
from api.openai import router as openai_router
from api.schemas import (
    AskRequest,
    DocumentList,
    EvalRequest,
    EvalSets,
    Info,
    Readiness,
    UploadResult,
    openai_error,
)
from api.sources import router as sources_router
from rag.config import Settings
from rag.errors import (
    BadRequest,
    Busy,
    Conflict,
    FileTooLarge,
    GeneratorError,
    IndexMissing,
    InvalidQuestion,
    InvalidUpload,
    ModelLoadError,
    NotFound,
    RagError,
    StoreUnavailable,
    UnreadableDocument,
    UnsupportedFile,
)
from rag.queue import Ticket
from rag.schema import Answer, EvalJob, FileResult
from rag.service import RagService
from rag.stream import AnswerStream

log = logging.getLogger(__name__)

# Each user-facing error kind has one status; anything not listed is a 400.
STATUS: dict[type[RagError], int] = {
    InvalidQuestion: 422,
    UnreadableDocument: 422,
    InvalidUpload: 400,
    BadRequest: 400,
    NotFound: 404,
    IndexMissing: 409,
    Conflict: 409,
    FileTooLarge: 413,
    UnsupportedFile: 415,
    GeneratorError: 502,
    ModelLoadError: 503,
    Busy: 503,
    StoreUnavailable: 503,
}
STORE_RETRY_S = 5  # Retry-After for a Chroma server that is down or hung: a restart takes seconds
OPEN_PATHS = {"/healthz"}
T = TypeVar("T")


def sse(event: str, data: Any) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


def answer_events(stream: AnswerStream) -> Iterator[bytes]:
    """``token`` events as the model writes, then one ``answer`` event with the checked answer.

    Tokens are the model's draft; the ``answer`` event is what to show in the end (it may differ:
    an unsupported draft becomes an abstention, citations are renumbered).
    """
    try:
        for token in stream.tokens():
            yield sse("token", {"text": token})
        yield sse("answer", stream.result().model_dump())
    except RagError as exc:  # the status line is already sent: report the failure in the stream
        yield sse("error", {"detail": str(exc)})


api = APIRouter(prefix="/api", tags=["questions and documents"], responses=ERRORS)


@api.get("/info", response_model=Info)
def info(service: Service) -> Info:
    return Info(
        generators=service.generators(),
        default_generator=service.settings.llm,
        top_k=service.settings.top_k,
        max_question_chars=service.settings.max_question_chars,
        examples=service.examples(),
    )


@api.post("/ask", response_model=Answer)
def ask(body: AskRequest, service: Service) -> Answer:
    """Answer a question from the indexed documents, citing passages as [n]."""
    return service.ask(body.question, body.history, body.k, body.llm)


@api.post(
    "/ask/stream",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}, "description": "token* answer | error"}},
)
def ask_stream(body: AskRequest, service: Service) -> EventSourceResponse:
    """Server-Sent Events: ``token`` events ({"text"}) as generated, then one ``answer`` event."""
    stream = service.stream(body.question, body.history, body.k, body.llm)
    # The ticket is released even if the client leaves before the stream starts.
    return EventSourceResponse(answer_events(stream), background=BackgroundTask(stream.close))


@api.get("/documents", response_model=DocumentList)
def list_documents(service: Service) -> DocumentList:
    return DocumentList(collection=service.store.name, documents=service.documents())


async def in_write_turn(request: Request, service: RagService, work: Callable[[Ticket], T]) -> T:
    """Run a document write in its turn, without holding a worker thread while it waits.

    The place in the write queue is taken here, at once (a full queue is a 503 with Retry-After right
    away); the wait for the turn is asynchronous, and the write itself runs on one thread of its own,
    so a burst of uploads never occupies the thread pool the other (sync) routes, /healthz included,
    need to answer.
    """
    ticket = service.writes.admit()
    try:
        limiter = getattr(request.app.state, "write_thread", None)
        if limiter is None:
            limiter = request.app.state.write_thread = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(work, ticket, limiter=limiter)
    finally:
        ticket.release()


@api.post("/documents", response_model=UploadResult, status_code=status.HTTP_201_CREATED)
async def upload_document(
    file: Annotated[UploadFile, File(description="A .txt, .md, .pdf or .html file.")],
    service: Service,
    request: Request,
    response: Response,
) -> UploadResult:
    """Save the file into the corpus folder and index it; a file of the same name is replaced.

    Uploads and deletes run one at a time; when too many wait, 503 with Retry-After."""
    limit = service.settings.max_file_bytes
    data = await file.read(limit + 1)  # never more than the limit in memory
    if len(data) > limit:
        raise FileTooLarge(f"the file is over the {service.settings.max_file_mb:g} MB limit")
    name = service.check_upload(file.filename or "", len(data))  # a bad name is a 4xx, never a 503

    def write(ticket: Ticket) -> UploadResult:
        result = service.add_document(name, data, ticket)
        document = next((d for d in service.documents() if d.source == result.source), None)
        return UploadResult(file=result, document=document)

    upload = await in_write_turn(request, service, write)
    if upload.file.status != "added":
        response.status_code = status.HTTP_200_OK
    return upload


@api.delete("/documents/{doc_id}", response_model=FileResult)
async def delete_document(doc_id: str, service: Service, request: Request) -> FileResult:
    """Remove a document from the index, and its file from the corpus folder (in turn with uploads)."""
    return await in_write_turn(request, service, lambda ticket: service.delete_document(doc_id, ticket))


evals = APIRouter(prefix="/api", tags=["evaluation"], responses=ERRORS)


@evals.get("/evalsets", response_model=EvalSets)
def list_evalsets(service: Service) -> EvalSets:
    return EvalSets(evalsets=service.jobs.evalsets())


@evals.post("/eval", response_model=EvalJob, status_code=status.HTTP_202_ACCEPTED)
def start_eval(body: EvalRequest, service: Service) -> EvalJob:
    """Start an evaluation (one at a time; 409 while one runs); poll GET /api/eval/{id}."""
    return service.jobs.start(body.evalset, body.items, body.k, body.limit, body.compare)


@evals.get("/eval/{job_id}", response_model=EvalJob)
def eval_status(job_id: str, service: Service) -> EvalJob:
    """Progress, then the metrics of each configuration (``table``: one row per metric)."""
    return service.jobs.job(job_id)


@evals.delete("/eval/{job_id}", response_model=EvalJob, status_code=status.HTTP_202_ACCEPTED)
def cancel_eval(job_id: str, service: Service) -> EvalJob:
    """Stop a running evaluation: it stops before its next question, then reads ``cancelled``
    (409 when it is not running)."""
    return service.jobs.cancel(job_id)


@evals.get(
    "/eval/{job_id}/report",
    response_model=None,
    responses={200: {"content": {"text/html": {}}, "description": "The report page."}},
)
def eval_report(job_id: str, service: Service) -> HTMLResponse:
    """The finished run as a self-contained HTML page: table and chart."""
    from rag.reports import render_html

    return HTMLResponse(render_html(service.jobs.report(job_id)))


probes = APIRouter(tags=["health"])


@probes.get("/healthz", openapi_extra={"security": []})
def healthz() -> dict[str, str]:
    """The process is up (no key needed)."""
    return {"status": "ok"}


@probes.get("/readyz", response_model=Readiness, responses={401: ERRORS[401], 503: {"model": Readiness}})
def readyz(service: Service, response: Response) -> Readiness:
    """The index has documents and the default generator is loaded."""
    state = Readiness(**service.readiness())
    if not state.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return state


def create_app(settings: Settings | None = None, service: RagService | None = None, ui: bool = True) -> FastAPI:
    settings = settings or Settings()
    service = service or RagService(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # In the background: the corpus folder is checked against the index (repairs a crash mid-upload)
        # and models load; /healthz answers at once, /readyz says when both are done.
        service.start()
        yield

    app = FastAPI(
        title="rag",
        summary="Answers questions from your documents and cites the passages it used.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service

    app.include_router(api)
    app.include_router(evals)
    app.include_router(openai_router)
    app.include_router(probes)
    app.include_router(calibration_router)
    app.include_router(sources_router)
    _install_errors(app)
    key = settings.api_key.get_secret_value() if settings.api_key else None
    app.add_middleware(
        Guard,
        key=key,
        upload_limit=settings.max_file_bytes + 64 * 1024,
        hosts=Guard.hosts_for(settings),
        origins=settings.allowed_origins,
    )
    if key:
        _document_key(app)

    if ui:
        from ui.app import mount_ui

        mount_ui(app, service, key)  # with its own login (the key as password) and Gradio's file checks

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/ui/")

    return app


def _error_response(request: Request, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    if request.url.path.startswith("/v1/"):
        kind = "invalid_request_error" if code < 500 else "server_error"
        return JSONResponse(openai_error(message, kind, str(code)), code, headers)
    return JSONResponse({"detail": message}, code, headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        code = next((c for kind, c in STATUS.items() if isinstance(exc, kind)), 400)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Busy) else None
        if isinstance(exc, StoreUnavailable):
            headers = {"Retry-After": str(STORE_RETRY_S)}
        log.info("request refused", extra={"path": request.url.path, "status": code, "reason": str(exc)})
        return _error_response(request, code, str(exc), headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error_response(request, exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/v1/"):
            first = exc.errors()[0] if exc.errors() else {}
            where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
            return _error_response(request, 422, f"{where}: {first.get('msg', 'invalid request')}")
        return JSONResponse({"detail": jsonable_errors(exc)}, 422)


def jsonable_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Drop the raw input and context (may hold bytes or huge strings) from the echo.
    return [{k: v for k, v in e.items() if k in {"loc", "msg", "type"}} for e in exc.errors()]


JSON_BODY_LIMIT = 10 * 1024 * 1024  # a question, a history or an inline eval set: far below this
# UI routes whose files Gradio limits itself as they stream in (RAG_MAX_FILE_MB as its max_file_size).
UI_UPLOADS = {"/ui/gradio_api/upload", "/ui/gradio_api/process_recording"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
DEFAULT_PORTS = {"http": 80, "https": 443}


class Guard:
    """Host, Origin, API key and body size checks as a plain ASGI middleware: it looks at the headers,
    counts the body as it streams in, and (unlike ``@app.middleware``) leaves streaming responses and
    client disconnects alone."""

    def __init__(
        self,
        app: ASGIApp,
        key: str | None,
        upload_limit: int,
        hosts: list[str] | None = None,
        origins: list[str] | None = None,
    ) -> None:
        self.app = app
        self.key = key.encode() if key else None  # UTF-8 bytes: any key works, ASCII or not
        self.upload_limit = upload_limit
        # None: any Host. Names are compared lowercase, without brackets or a final dot.
        self.hosts = None if hosts is None else LOOPBACK_NAMES | {h.lower().strip("[]").rstrip(".") for h in hosts}
        self.origins = {o.lower().rstrip("/") for o in origins or []}

    @staticmethod
    def hosts_for(settings: Settings) -> list[str] | None:
        """The Host names to accept, None for any. Checked when the server listens on a loopback address
        (the default: there another name can only come from DNS rebinding, a web page whose name now
        points at 127.0.0.1), or when RAG_ALLOWED_HOSTS is set."""
        if "*" in settings.allowed_hosts:
            return None
        if _is_loopback(settings.host) or "allowed_hosts" in settings.model_fields_set:
            return settings.allowed_hosts
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self.check(request)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        limit = self.body_limit(request.url.path)
        if limit is None:
            await self.app(scope, receive, send)
            return
        too_large = _error_response(request, 413, f"the request body is over {limit // 1024} KiB")
        await self.limited(scope, receive, send, limit, too_large)

    def body_limit(self, path: str) -> int | None:
        if path == "/api/documents":
            return self.upload_limit
        if path.startswith(("/api/", "/v1/")) or (path.startswith("/ui/") and path not in UI_UPLOADS):
            return JSON_BODY_LIMIT
        return None

    def check(self, request: Request) -> JSONResponse | None:
        path = request.url.path
        host = request.headers.get("host", "")
        if self.hosts is not None and path not in OPEN_PATHS and not self.host_allowed(host):
            return _error_response(
                request,
                400,
                f"this server does not answer to the Host '{host}'; "
                "to reach it under that name, add the name to RAG_ALLOWED_HOSTS",
            )
        if request.method in WRITES and not self.same_site(request, host):
            return _error_response(
                request,
                403,
                "a request sent by a page of another site is refused (its Origin or Referer is not this "
                "server); to allow that site, add its origin to RAG_ALLOWED_ORIGINS",
            )
        if self.key and path not in OPEN_PATHS and not (path == "/ui" or path.startswith("/ui/")):
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            # Header values arrive decoded as latin-1: encoding back gives the bytes the client sent, which
            # for a key that is not ASCII are its UTF-8 bytes.
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode("latin-1"), self.key):
                return _error_response(
                    request,
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <RAG_API_KEY>'",
                    {"WWW-Authenticate": "Bearer"},
                )  # the UI (/ui) has its own login
        limit = self.body_limit(path)
        length = request.headers.get("content-length", "")
        if limit is not None and length.isdigit() and int(length) > limit:  # refused before anything is read
            return _error_response(request, 413, f"the request body is over {limit // 1024} KiB")
        return None

    def host_allowed(self, host: str) -> bool:
        name = _host_port(host)[0]
        return bool(name) and any(name == h or (h.startswith(".") and name.endswith(h)) for h in self.hosts or ())

    def same_site(self, request: Request, host: str) -> bool:
        """Whether a write comes from a page of this server (or of an allowed origin), judged by its
        Origin, else its Referer. A request with neither comes from no web page (curl, SDKs, the OpenAI
        clients): a cross-site form or script cannot send one without, so it passes."""
        source = request.headers.get("origin") or request.headers.get("referer")
        if not source:
            return True
        try:
            parts = urlsplit(source)
            port = parts.port
        except ValueError:
            return False
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:  # "null": a sandboxed or file: page
            return False
        if f"{parts.scheme}://{parts.netloc}".lower() in self.origins:
            return True
        name, own_port = _host_port(host)
        default = DEFAULT_PORTS[parts.scheme]  # https behind a proxy: Host may carry no port
        return parts.hostname.rstrip(".") == name and (port or default) == (own_port or default)

    async def limited(self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: JSONResponse) -> None:
        """Run the app with the body counted as it streams in. A body without Content-Length (chunked)
        cannot be refused up front: once it passes ``limit``, the client gets ``too_large`` and the app
        a disconnect, and the rest is never read."""
        received = 0
        refused = started = False

        async def counted() -> Any:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracked(message: Any) -> None:
            nonlocal started
            if refused:
                return  # the client has its 413: whatever the app answers to the cut body is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except Exception:
            if not refused:
                raise
            # the app failed on the body cut short, after the client had its answer
        if refused:
            log.info("request refused", extra={"path": scope["path"], "status": 413, "reason": "body over limit"})


def _host_port(netloc: str) -> tuple[str, int | None]:
    """A Host header as (lowercase name without brackets, port); ("", None) when it is malformed."""
    try:
        parts = urlsplit(f"//{netloc}")
        return (parts.hostname or "").rstrip("."), parts.port
    except ValueError:
        return "", None


def _is_loopback(address: str) -> bool:
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _document_key(app: FastAPI) -> None:
    """Declare the bearer key in the OpenAPI schema (what /docs and clients read)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
