"""The Gradio web UI: chat with streamed, cited answers, a sources panel, documents and settings."""

from __future__ import annotations

import base64
import contextlib
import hmac
import html
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI
from gradio.utils import get_upload_folder, is_in_or_equal
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rag.calibration import calibration_note
from rag.citations import where
from rag.config import Settings
from rag.errors import RagError
from rag.loaders import SUPPORTED
from rag.reports import render_chart_svg, timing_line
from rag.schema import Answer, Citation, FileResult, Turn
from rag.service import RagService
from rag.sources import Box, SourceView, build_view, check, render_page
from rag.store import document_id

CSS = """
#sources .source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
  margin-bottom: 10px; }
#sources .source:target { outline: 2px solid var(--color-accent); }
#sources .meta { font-size: 0.85em; opacity: 0.8; margin-bottom: 4px; }
#sources mark { background: #fde68a; color: inherit; padding: 0 2px; }
#sources .source.stale, #viewer .stale-note { border-color: #dc2626; }
.stale-badge { color: #b91c1c; font-weight: 600; }
#viewer .viewer { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 12px;
  margin-bottom: 10px; }
#viewer .meta { font-size: 0.85em; margin-bottom: 6px; }
#viewer .page { position: relative; width: 100%; border: 1px solid var(--border-color-primary); }
#viewer .page img { display: block; width: 100%; height: auto; }
#viewer .box { position: absolute; background: rgba(250, 204, 21, 0.35); outline: 2px solid #f59e0b; }
#viewer .text { white-space: pre-wrap; max-height: 420px; overflow-y: auto; font-size: 0.9em; }
#viewer mark { background: #fde68a; color: inherit; }
#viewer .note { font-size: 0.85em; opacity: 0.8; }
.hidden-control { display: none !important; }
"""
# Clicking [n] (in the chat or the sources panel) opens the passage in the viewer: the link names the
# answer it belongs to by its place among the bot messages, and a hidden textbox and button carry the
# request to the server. The viewer then scrolls its highlight into view.
VIEWER_JS = """
() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest ? event.target.closest("a[href^='#source-']") : null;
    if (!link) return;
    const n = parseInt(link.getAttribute('href').slice(8), 10);
    let answer = -1;
    const chat = document.getElementById('chat');
    if (chat && chat.contains(link)) {
      const bots = Array.from(chat.querySelectorAll('.bot.message, .message.bot'));
      answer = bots.findIndex((m) => m.contains(link));
    }
    const box = document.querySelector('#view-request textarea');
    const open = document.querySelector('#view-open');
    if (!box || !open) return;
    box.value = JSON.stringify({answer: answer, n: n, t: Date.now()});
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => open.click(), 50);
  });
  const viewer = document.getElementById('viewer');
  if (viewer) {
    new MutationObserver(() => {
      const mark = viewer.querySelector('.text mark');
      if (mark) mark.parentElement.scrollTop = Math.max(0, mark.offsetTop - mark.parentElement.offsetTop - 80);
    }).observe(viewer, {childList: true, subtree: true});
  }
}
"""
UI_PAGE_SCALE = 1.25  # page images in the viewer: 765 px wide for a letter page
CHECK_EVERY_S = 5  # how often an open page asks whether the documents changed (one cheap read)
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
        stale = " stale" if c.stale else ""
        badge = " · <span class='stale-badge'>changed since this answer</span>" if c.stale else ""
        cards.append(
            f"<div class='source{stale}' id='source-{c.n}'>"
            f"<div class='meta'><a href='#source-{c.n}' class='open' title='Open in the document'><b>[{c.n}]</b> "
            f"{html.escape(where(c))}</a> · chars {c.start}-{c.end} · score {c.score:.2f}{badge}</div>"
            f"<div class='passage'>{body}</div></div>"
        )
    return "".join(cards)


def _shown(answer: Answer) -> list[Citation]:
    """The passages an answer shows in the sources panel: its citations, or the nearest ones."""
    return answer.nearest if answer.abstained and answer.nearest else answer.citations


def view_html(service: RagService, answers: list[Answer | None], request: str) -> str:
    """The viewer: the passage [n] of an answer (``request``: {"answer": index, -1 for the last; "n"})
    in its document, a PDF as its page with the cited sentences boxed, other files as the text around it."""
    try:
        asked = json.loads(request)
        answer = answers[int(asked["answer"])]
        cite = next(c for c in _shown(answer) if c.n == int(asked["n"])) if answer else None
    except (ValueError, KeyError, IndexError, TypeError, StopIteration):
        cite = None
    if cite is None:
        return "<div class='viewer'><p class='note'>That passage is no longer in this conversation.</p></div>"
    label = f"<b>[{cite.n}]</b> {html.escape(where(cite))}"
    try:
        view = build_view(
            service.settings, service.store, document_id(cite.source), cite.start, cite.end, cite.chunk_id
        )
    except RagError as exc:  # gone or changed since: say so, with the passage as the answer quoted it
        return (
            f"<div class='viewer stale-note'><div class='meta'>{label} · <span class='stale-badge'>"
            f"{html.escape(str(exc))}</span></div><div class='text'>{html.escape(cite.text)}</div></div>"
        )
    return f"<div class='viewer' data-kind='{view.kind}'>{_view_body(service, view, label, cite.stale)}</div>"


def _view_body(service: RagService, view: SourceView, label: str, stale: bool) -> str:
    shown = sorted([(view.page, view.boxes)] + [(m.page, m.boxes) for m in view.also]) if view.page else []
    numbers = " and ".join(str(n) for n, _ in shown)
    meta = label + (f" · page{'s' if len(shown) > 1 else ''} {numbers} of {view.pages}" if view.kind == "page" else "")
    if stale:
        meta += " · <span class='stale-badge'>changed since this answer</span>"
    note = f"<p class='note'>{html.escape(view.note)}</p>" if view.note else ""
    if view.kind == "page" and shown:
        pages = "".join(_page_html(service, view.document_id, n, boxes) for n, boxes in shown)
        return f"<div class='meta'>{meta}</div>{pages}{note}"
    h = view.highlight
    text = (
        html.escape(view.text[: h.start])
        + f"<mark>{html.escape(view.text[h.start : h.end])}</mark>"
        + html.escape(view.text[h.end :])
    )
    more = ("… " if view.offset else "", " …" if view.offset + len(view.text) < view.chars else "")
    return f"<div class='meta'>{meta}</div><div class='text'>{more[0]}{text}{more[1]}</div>{note}"


def stale_note(answers: list[Answer | None]) -> str:
    """One line per answer whose sources changed since it was shown."""
    lines = []
    for i, answer in enumerate(answers, start=1):
        changed = [c for c in _shown(answer) if c.stale] if answer else []
        if changed:
            listed = ", ".join(f"[{c.n}] {where(c)}" for c in changed)
            lines.append(f"- answer {i}: {listed}")
    if not lines:
        return ""
    return "⚠ **Sources changed since they were shown** (ask again for a fresh answer):\n" + "\n".join(lines)


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


def _page_html(service: RagService, document_id: str, page: int, boxes: list[Box]) -> str:
    """A page image with the cited words boxed (a passage across a page break shows each of its pages)."""
    png = render_page(service.settings, service.store, document_id, page, UI_PAGE_SCALE)
    marks = "".join(
        f"<div class='box' style='left:{b.left:.3%};top:{b.top:.3%};width:{b.width:.3%};height:{b.height:.3%}'></div>"
        for b in boxes
    )
    image = f"<img alt='page {page}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
    return f"<div class='page'>{image}{marks}</div>"


def _upload_stage(stage: str, done: int, total: int) -> str:
    return f"reading page {done} of {total}" if stage == "reading" else f"indexing, {done} of {total} passages written"


class _Upload:
    """One upload indexed on a thread of its own, so the UI can show its pages as they are read."""

    def __init__(
        self, service: RagService, name: str, data: bytes, cancel: threading.Event, page: Callable[[Any], None]
    ) -> None:
        self.done = threading.Event()
        self._result: FileResult | None = None
        self._error: Exception | None = None

        def progress(stage: str, done: int, total: int) -> None:
            page((stage, done, total))

        def run() -> None:
            try:
                self._result = service.docs.add(name, data, progress=progress, cancel=cancel)
            except Exception as exc:  # handed to the UI thread, which reports it like before
                self._error = exc
            finally:
                self.done.set()

        threading.Thread(target=run, name=f"upload-{name}", daemon=True).start()

    def outcome(self) -> FileResult:
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise RagError("the upload stopped without a result")
        return self._result


def build_ui(service: RagService) -> gr.Blocks:
    settings = service.settings

    def respond(
        question: str, messages: Messages, k: int, llm: str, answers: list[Answer | None]
    ) -> Iterator[tuple[Any, ...]]:
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
            yield messages[:-1], gr.skip(), question, gr.skip()
            return
        draft = ""
        try:
            for token in stream.tokens():
                draft += token
                yield [*messages, {"role": "assistant", "content": draft}], gr.skip(), "", gr.skip()
            answer = stream.result()
            final = [*messages, {"role": "assistant", "content": answer_markdown(answer)}]
            # One entry per assistant message, in order: what the viewer opens when an [n] is clicked.
            shown = sum(1 for m in messages if m["role"] == "assistant")
            kept = [*(answers or []), *[None] * shown][:shown]
            yield final, answer_sources(answer, service), "", [*kept, answer]
        except RagError as exc:
            gr.Warning(str(exc))
            yield messages[:-1], gr.skip(), question, gr.skip()
        finally:
            stream.close()

    def open_view(request: str, answers: list[Answer | None]) -> str:
        return view_html(service, answers or [], request)

    def recheck(answers: list[Answer | None], seen: str, force: bool = False) -> tuple[Any, ...]:
        """Mark the shown answers' citations whose source changed or went since (``rag.sources.check``);
        on a timer only when the index changed since the last look."""
        version = service.store.version()
        if not force and version == seen:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        answers = answers or []
        cites = [c for a in answers if a for c in _shown(a)]
        if cites:
            _, results = check(service.store, cites)
            for c, result in zip(cites, results, strict=True):
                c.stale = result.stale
        last = next((a for a in reversed(answers) if a), None)
        panel = answer_sources(last, service) if last else gr.skip()
        return answers, panel, stale_note(answers), version

    def document_rows() -> list[list[Any]]:
        return [[d.source, d.chunks, d.id] for d in service.documents()]

    def document_choices() -> gr.Dropdown:
        return gr.Dropdown(choices=[(d.source, d.id) for d in service.documents()], value=None)

    cancels: dict[str, threading.Event] = {}  # per browser session: the upload it may cancel

    def upload(files: list[str] | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Index the uploaded files one by one, showing each one's pages as they are read (a scan takes
        about a second a page); "Cancel upload" stops at the next page or batch with the folder and the
        index as they were for that file, and the files after it are not added."""
        limit = settings.max_file_bytes
        lines: list[str] = []
        cancel = cancels[request.session_hash or ""] = threading.Event()
        try:
            for path in files or []:
                file = Path(path)
                name = file.name
                if cancel.is_set():
                    lines.append(f"- **{name}**: not added: cancelled")
                    _discard(file)
                    continue
                if not _uploaded(file):  # Gradio checks this too; never index a file named by a client
                    lines.append(f"- **{name}**: not added: not an upload")
                    continue
                try:
                    if file.stat().st_size > limit:  # by its size on disk: a file over the limit is never read
                        lines.append(f"- **{name}**: not added: the file is over the {settings.max_file_mb:g} MB limit")
                        continue
                    pages: list[tuple[str, int, int]] = []
                    work = _Upload(service, name, file.read_bytes(), cancel, pages.append)
                    while not work.done.wait(0.3):
                        where = _upload_stage(*pages[-1]) if pages else "reading"
                        yield "\n".join([*lines, f"- **{name}**: {where}…"]), gr.skip(), gr.skip(), gr.skip()
                    result = work.outcome()
                    if result.reason == "cancelled":
                        lines.append(f"- **{name}**: not added: cancelled (the folder and the index are as they were)")
                    else:
                        lines.append(f"- **{name}**: {result.status}, {result.chunks_added} chunks added")
                except RagError as exc:
                    lines.append(f"- **{name}**: not added: {exc}")
                except OSError:  # gone meanwhile (the same file uploaded twice at once, or the cache cleanup)
                    lines.append(f"- **{name}**: not added: the upload is gone; upload it again")
                finally:
                    _discard(file)
        finally:
            cancels.pop(request.session_hash or "", None)
        yield "\n".join(lines), document_rows(), document_choices(), None

    def cancel_upload(request: gr.Request) -> None:
        if (cancel := cancels.get(request.session_hash or "")) is not None:
            cancel.set()

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
            job = service.jobs.start(name, None, int(k) if k else None, int(limit) if limit else None, compare)
        except RagError as exc:
            raise gr.Error(str(exc)) from None
        while job.status == "running":
            progress((job.done, max(job.total, 1)), desc=job.stage or "starting", unit="questions")
            time.sleep(0.5)
        if job.status == "failed":
            raise gr.Error(f"The evaluation failed: {job.error}")
        report = service.jobs.report(job.id)
        rows = job.table or []
        headers = list(rows[0]) if rows else []
        table = {"headers": headers, "data": [[row[h] for h in headers] for row in rows]}
        summary = f"**{name}**: {report.config.questions} questions, {timing_line(report)}"
        return summary, render_chart_svg(report), table

    def on_load() -> tuple[Any, ...]:
        examples = [{"text": q} for q in service.examples()]
        version = service.store.version()  # answers shown from now on are checked against changes after it
        return gr.Chatbot(examples=examples or None), document_rows(), document_choices(), version

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
                    with gr.Row():
                        clear = gr.Button("New conversation", size="sm")
                        recheck_button = gr.Button("Check sources", size="sm", elem_id="check-sources")
                    stale = gr.Markdown(elem_id="stale-note")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    viewer = gr.HTML("", elem_id="viewer")
                    view_request = gr.Textbox(elem_id="view-request", elem_classes="hidden-control", show_label=False)
                    view_open = gr.Button("Open", elem_id="view-open", elem_classes="hidden-control")
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
            sets = service.jobs.evalsets()
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
            with gr.Row():
                status = gr.Markdown(elem_id="upload-status")
                stop_upload = gr.Button("Cancel upload", size="sm", scale=0, elem_id="cancel-upload")
            table = gr.Dataframe(headers=["source", "chunks", "id"], interactive=False, elem_id="documents")
            with gr.Row():
                chosen = gr.Dropdown(label="Document", choices=[], scale=4)
                remove = gr.Button("Delete document", variant="stop", scale=1)

        answers = gr.State([])  # the Answer behind each assistant message, for the viewer and the checks
        seen = gr.State("")  # the index version the shown answers were last checked against
        inputs = [question, chatbot, k, llm, answers]
        outputs = [chatbot, sources, question, answers]
        ask.click(respond, inputs, outputs)
        question.submit(respond, inputs, outputs)
        chatbot.example_select(pick_example, None, question).then(respond, inputs, outputs)
        clear.click(lambda: ([], "", "", [], "", ""), None, [chatbot, sources, question, answers, viewer, stale])
        view_open.click(open_view, [view_request, answers], viewer)
        checked = [answers, sources, stale, seen]
        recheck_button.click(lambda a, s: recheck(a, s, force=True), [answers, seen], checked)
        gr.Timer(CHECK_EVERY_S).tick(recheck, [answers, seen], checked, api_visibility="private")
        files.upload(upload, files, [status, table, chosen, files]).then(recheck, [answers, seen], checked)
        stop_upload.click(cancel_upload, None, None)
        remove.click(delete, chosen, [status, table, chosen]).then(recheck, [answers, seen], checked)
        run.click(run_eval, [evalset, eval_k, eval_limit, compare], [eval_summary, chart, metrics])
        demo.load(on_load, None, [chatbot, table, chosen, seen])
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
        js=VIEWER_JS,
        ssr_mode=False,  # server-side rendering needs Node.js; the plain client is enough
        # The browser UI logs in with the key as password (a browser cannot send a Bearer header).
        # Compared as UTF-8 bytes: compare_digest refuses str that is not ASCII (a 500).
        auth=(lambda _user, password: hmac.compare_digest(password.encode(), secret)) if key else None,
        allowed_paths=[],
        max_file_size=service.settings.max_file_bytes,  # Gradio refuses a larger upload as it streams in (413)
        blocked_paths=blocked_paths(service.settings),
        app_kwargs={"middleware": [Middleware(UploadsOnly, folder=get_upload_folder())]},
    )
    # What launch() sets and mount_gradio_app does not: without it Gradio skips its check that a file a
    # client names was uploaded (processing_utils._check_allowed), and copies any server file it is given
    # into its cache, where its file route serves it.
    demo.has_launched = True
