"""The Gradio web UI: chat with streamed, cited answers, a sources panel, documents and settings."""

from __future__ import annotations

import contextlib
import hmac
import html
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from gradio.utils import get_upload_folder, is_in_or_equal
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.calibrate import calibration_note
from rag.config import Settings
from rag.errors import RagError
from rag.loaders import SUPPORTED
from rag.reports import render_chart_svg, timing_line
from rag.schema import Answer, Citation, Turn
from rag.service import RagService

CSS = """
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
  margin-bottom: 10px; }
#sources .source:target { outline: 2px solid var(--color-accent); }
#sources .meta { font-size: 0.85em; opacity: 0.8; margin-bottom: 4px; }
#sources mark { background: #fde68a; color: inherit; padding: 0 2px; }
"""
# Gradio's cache (uploads, files it hands out): every 10 minutes, files older than an hour are removed,
# and all of them when the server stops. Uploads are indexed at once and removed then; this catches the
# rest (an upload whose tab was closed before it was indexed).
CACHE_CLEANUP = (600, 3600)
_MARKER = re.compile(r"\[(\d+)\]")
_LINK = re.compile(r"\[\[(\d+)\]\]\(#source-\d+\)")
Messages = list[dict[str, Any]]


def link_markers(text: str) -> str:
    """Each [n] becomes a link to its passage in the sources panel."""
    return _MARKER.sub(r"[[\1]](#source-\1)", text)


def answer_markdown(answer: Answer) -> str:
    """The answer with linked markers; an abstention says which check declined, under it."""
    text = link_markers(answer.answer)
    if answer.abstained and answer.abstain_detail:
        text += f"\n\n*{answer.abstain_detail}*" + (
            " *The nearest passages are in the sources panel.*" if answer.nearest else ""
        )
    return text


def answer_sources(answer: Answer, service: RagService) -> str:
    """The cited passages, or with an abstention the nearest ones, marked as not cited."""
    if answer.abstained and answer.nearest:
        note = "<p class='nearest'>Not cited: the passages nearest the question, to read for yourself.</p>"
        return note + sources_html(answer.nearest, service, marked=False)
    return sources_html(answer.citations, service)


def sources_html(citations: list[Citation], service: RagService, marked: bool = True) -> str:
    """Each cited passage: source, place and score, with the cited sentences highlighted."""
    if not citations:
        return "<p class='empty'>No sources cited.</p>"
    chunks = service.passages([c.chunk_id for c in citations])
    cards = []
    for c in citations:
        chunk = chunks.get(c.chunk_id)
        if chunk is not None and chunk.start <= c.start < c.end <= chunk.end:
            a, b = c.start - chunk.start, c.end - chunk.start
            mark = f"<mark>{html.escape(chunk.text[a:b])}</mark>" if marked else html.escape(chunk.text[a:b])
            body = html.escape(chunk.text[:a]) + mark + html.escape(chunk.text[b:])
        else:
            body = f"<mark>{html.escape(c.text)}</mark>" if marked else html.escape(c.text)
        cards.append(
            f"<div class='source' id='source-{c.n}'>"
            f"<div class='meta'><b>[{c.n}]</b> {html.escape(c.source)} · chars {c.start}-{c.end} · "
            f"score {c.score:.2f}</div><div class='passage'>{body}</div></div>"
        )
    return "".join(cards)


def pick_example(event: gr.SelectData) -> str:
    return str(event.value["text"])


def _text(content: Any) -> str:
    """A message's text: Gradio hands back content as a list of parts ({"type": "text", "text"})."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


def _text_only(messages: Messages | None) -> Messages:
    """The conversation as plain text messages. The history comes from the client, which may put file
    parts in it (any path): they are dropped, so they never go back out through Gradio's file route."""
    kept = []
    for m in messages or []:
        text = _text(m.get("content")) if isinstance(m, dict) else ""
        if text and m.get("role") in {"user", "assistant"}:
            kept.append({"role": m["role"], "content": text})
    return kept


def _turns(messages: Messages) -> list[Turn]:
    """The conversation as the engine knows it: marker links turned back into plain [n]."""
    return [Turn(role=m["role"], content=_LINK.sub(r"[\1]", m["content"])) for m in messages]


def upload_limit(settings: Settings) -> int:
    """The largest upload in bytes (RAG_MAX_FILE_MB)."""
    return int(settings.max_file_mb * 1024 * 1024)


def _uploaded(path: Path) -> bool:
    """Whether a path lies in Gradio's upload folder: the only files the UI may read."""
    return is_in_or_equal(path, get_upload_folder())


def _discard(upload: Path) -> None:
    """Remove an upload once handled (its text is in the corpus folder now, or it was refused), and the
    folder Gradio made for it if that is left empty."""
    upload.unlink(missing_ok=True)
    if upload.parent.resolve() != Path(get_upload_folder()).resolve():
        with contextlib.suppress(OSError):
            upload.parent.rmdir()


def build_ui(service: RagService) -> gr.Blocks:
    settings = service.settings

    def respond(question: str, messages: Messages, k: int, llm: str) -> Iterator[tuple[Any, ...]]:
        question = question.strip()
        if not question:
            return
        messages = _text_only(messages)
        history = _turns(messages)
        messages = [*messages, {"role": "user", "content": question}]
        try:
            stream = service.stream(question, history, int(k), llm)
        except RagError as exc:
            gr.Warning(str(exc))
            yield messages[:-1], gr.skip(), question
            return
        draft = ""
        try:
            for token in stream.tokens():
                draft += token
                yield [*messages, {"role": "assistant", "content": draft}], gr.skip(), ""
            answer = stream.result()
            final = [*messages, {"role": "assistant", "content": answer_markdown(answer)}]
            yield final, answer_sources(answer, service), ""
        except RagError as exc:
            gr.Warning(str(exc))
            yield messages[:-1], gr.skip(), question
        finally:
            stream.close()

    def document_rows() -> list[list[Any]]:
        return [[d.source, d.chunks, d.id] for d in service.documents()]

    def document_choices() -> gr.Dropdown:
        return gr.Dropdown(choices=[(d.source, d.id) for d in service.documents()], value=None)

    def upload(files: list[str] | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        limit = upload_limit(settings)
        lines = []
        for path in progress.tqdm(files or [], desc="Indexing"):
            file = Path(path)
            name = file.name
            if not _uploaded(file):  # Gradio checks this too; never index a file named by a client
                lines.append(f"- **{name}**: not added: not an upload")
                continue
            try:
                if file.stat().st_size > limit:  # by its size on disk: a file over the limit is never read
                    lines.append(f"- **{name}**: not added: the file is over the {settings.max_file_mb:g} MB limit")
                    continue
                result = service.add_document(name, file.read_bytes())
                lines.append(f"- **{name}**: {result.status}, {result.chunks_added} chunks added")
            except RagError as exc:
                lines.append(f"- **{name}**: not added: {exc}")
            except OSError:  # gone meanwhile (the same file uploaded twice at once, or the cache cleanup)
                lines.append(f"- **{name}**: not added: the upload is gone; upload it again")
            finally:
                _discard(file)
        return "\n".join(lines), document_rows(), document_choices(), None

    def delete(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            return "Choose a document first.", gr.skip(), gr.skip()
        try:
            result = service.delete_document(doc_id)
            message = f"Deleted **{result.source}** ({result.chunks_removed} chunks)."
        except RagError as exc:
            message = f"Not deleted: {exc}"
        return message, document_rows(), document_choices()

    def run_eval(
        name: str | None,
        k: float | None,
        limit: float | None,
        compare: bool,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple[Any, ...]:
        if not name:
            raise gr.Error(f"No eval set: put a JSONL eval set into {settings.evals_dir}/ (see evals/README.md).")
        try:
            job = service.start_eval(name, None, int(k) if k else None, int(limit) if limit else None, compare)
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        while job.status == "running":
            progress((job.done, max(job.total, 1)), desc=job.stage or "starting", unit="questions")
            time.sleep(0.5)
        if job.status == "failed":
            raise gr.Error(f"The evaluation failed: {job.error}")
        report = service.eval_report(job.id)
        rows = job.table or []
        headers = list(rows[0]) if rows else []
        table = {"headers": headers, "data": [[row[h] for h in headers] for row in rows]}
        summary = f"**{name}**: {report.config.questions} questions, {timing_line(report)}"
        return summary, render_chart_svg(report), table

    def on_load() -> tuple[Any, ...]:
        examples = [{"text": q} for q in service.examples()]
        return gr.Chatbot(examples=examples or None), document_rows(), document_choices()

    with gr.Blocks(title="Ask your documents", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown("## Ask your documents\nAnswers come only from your documents, with the passages they cite.")
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    chatbot = gr.Chatbot(
                        label="Conversation",
                        elem_id="chat",
                        height=460,
                        placeholder="Ask a question about your documents.",
                        sanitize_html=True,
                    )
                    with gr.Row():
                        question = gr.Textbox(
                            show_label=False,
                            placeholder="Your question",
                            elem_id="question",
                            scale=5,
                            max_length=settings.max_question_chars,
                            submit_btn=False,
                        )
                        ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1)
                    clear = gr.Button("New conversation", size="sm")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML(
                        "<p class='empty'>The passages an answer cites appear here.</p>", elem_id="sources"
                    )
            with gr.Accordion("Settings", open=False, elem_id="settings"):
                k = gr.Slider(
                    1, 20, value=settings.top_k, step=1, label="Passages to retrieve (top-k)", elem_id="top-k"
                )
                llm = gr.Dropdown(service.generators(), value=settings.llm, label="Generator", elem_id="generator")
                gr.Markdown(lambda: calibration_note(settings, service.store), elem_id="calibration")  # on each load
        with gr.Tab("Evaluation"):
            gr.Markdown(
                "Run an eval set from the evals folder through the same chain (see evals/README.md for the "
                "format and the metrics). Every configuration is measured in the same run."
            )
            sets = service.evalsets()
            with gr.Row():
                # The small seed set first: a whole external set takes minutes to index on a small CPU.
                default = "seed.jsonl" if "seed.jsonl" in sets else (sets[0] if sets else None)
                evalset = gr.Dropdown(sets, value=default, label="Eval set", elem_id="evalset")
                eval_k = gr.Number(settings.top_k, precision=0, minimum=1, maximum=50, label="top-k")
                eval_limit = gr.Number(None, precision=0, minimum=1, label="First N questions (empty: all)")
                compare = gr.Checkbox(label="Compare: dense-only, BM25-only, naive baseline", elem_id="compare")
            run = gr.Button("Run evaluation", variant="primary", elem_id="run-eval")
            eval_summary = gr.Markdown(elem_id="eval-summary")
            chart = gr.HTML(elem_id="eval-chart")
            metrics = gr.Dataframe(interactive=False, elem_id="eval-table", wrap=True)
        with gr.Tab("Documents"):
            files = gr.File(
                label="Add documents",
                file_count="multiple",
                file_types=sorted(SUPPORTED),
                elem_id="upload",
            )
            status = gr.Markdown(elem_id="upload-status")
            table = gr.Dataframe(headers=["source", "chunks", "id"], interactive=False, elem_id="documents")
            with gr.Row():
                chosen = gr.Dropdown(label="Document", choices=[], scale=4)
                remove = gr.Button("Delete document", variant="stop", scale=1)

        inputs = [question, chatbot, k, llm]
        outputs = [chatbot, sources, question]
        ask.click(respond, inputs, outputs)
        question.submit(respond, inputs, outputs)
        chatbot.example_select(pick_example, None, question).then(respond, inputs, outputs)
        clear.click(lambda: ([], "", ""), None, [chatbot, sources, question])
        files.upload(upload, files, [status, table, chosen, files])
        remove.click(delete, chosen, [status, table, chosen])
        run.click(run_eval, [evalset, eval_k, eval_limit, compare], [eval_summary, chart, metrics])
        demo.load(on_load, None, [chatbot, table, chosen])
    return demo


def _foreign_path(value: Any, folder: str) -> str | None:
    """The first file path in a decoded request body that lies outside ``folder``, if any."""
    if isinstance(value, dict):
        path = value.get("path")
        if isinstance(path, str) and not is_in_or_equal(path, folder):
            return path
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if (found := _foreign_path(item, folder)) is not None:
                return found
    return None


class UploadsOnly:
    """Refuses, with a 400, a request to the Gradio app whose JSON body names a file outside Gradio's
    upload folder (a chat history's file part, a file input). Gradio refuses those itself once it runs
    its check (see ``mount_ui``), but only with a traceback in the log for every attempt."""

    def __init__(self, app: ASGIApp, folder: str) -> None:
        self.app = app
        self.folder = folder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if headers.get(b"content-type", b"").startswith(b"multipart/"):  # uploads: files, no paths
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:  # the body is bounded by the body limit of api.app.Guard, in front of this
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            foreign = _foreign_path(json.loads(body), self.folder)
        except ValueError:  # not JSON: Gradio answers that itself
            foreign = None
        if foreign is not None:
            detail = f"files must be uploaded first; '{foreign}' was not uploaded here"
            await JSONResponse({"detail": detail}, 400)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def blocked_paths(settings: Settings) -> list[str]:
    """Folders Gradio must never copy from or serve: documents, index, eval sets, models, the working
    folder and home (except any that holds Gradio's upload folder: a block would shut that off too)."""
    uploads = Path(get_upload_folder()).resolve()
    folders = [settings.corpus_dir, settings.data_dir, settings.evals_dir, settings.model_dir, Path.cwd(), Path.home()]
    resolved = {Path(f).expanduser().resolve() for f in folders}
    return sorted(str(f) for f in resolved if not uploads.is_relative_to(f))


def mount_ui(app: FastAPI, service: RagService, key: str | None) -> None:
    """Mount the UI at /ui, with Gradio's file checks in force."""
    demo = build_ui(service)
    secret = key.encode() if key else b""
    gr.mount_gradio_app(
        app,
        demo,
        path="/ui",
        css=CSS,
        ssr_mode=False,  # server-side rendering needs Node.js; the plain client is enough
        # The browser UI logs in with the key as password (a browser cannot send a Bearer header).
        # Compared as UTF-8 bytes: compare_digest refuses str that is not ASCII (a 500).
        auth=(lambda _user, password: hmac.compare_digest(password.encode(), secret)) if key else None,
        allowed_paths=[],
        max_file_size=upload_limit(service.settings),  # Gradio refuses a larger upload as it streams in (413)
        blocked_paths=blocked_paths(service.settings),
        app_kwargs={"middleware": [Middleware(UploadsOnly, folder=get_upload_folder())]},
    )
    # What launch() sets and mount_gradio_app does not: without it Gradio skips its check that a file a
    # client names was uploaded (processing_utils._check_allowed), and copies any server file it is given
    # into its cache, where its file route serves it.
    demo.has_launched = True
