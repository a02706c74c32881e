"""The Gradio web UI: chat with streamed, cited answers, a sources panel, documents and settings."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr

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
_MARKER = re.compile(r"\[(\d+)\]")
_LINK = re.compile(r"\[\[(\d+)\]\]\(#source-\d+\)")
Messages = list[dict[str, Any]]


def link_markers(text: str) -> str:
    """Each [n] becomes a link to its passage in the sources panel."""
    return _MARKER.sub(r"[[\1]](#source-\1)", text)


def sources_html(citations: list[Citation], service: RagService) -> str:
    """Each cited passage: source, place and score, with the cited sentences highlighted."""
    if not citations:
        return "<p class='empty'>No sources cited.</p>"
    chunks = service.passages([c.chunk_id for c in citations])
    cards = []
    for c in citations:
        chunk = chunks.get(c.chunk_id)
        if chunk is not None and chunk.start <= c.start < c.end <= chunk.end:
            a, b = c.start - chunk.start, c.end - chunk.start
            body = (
                html.escape(chunk.text[:a])
                + f"<mark>{html.escape(chunk.text[a:b])}</mark>"
                + html.escape(chunk.text[b:])
            )
        else:
            body = f"<mark>{html.escape(c.text)}</mark>"
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
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")


def _turns(messages: Messages) -> list[Turn]:
    """The conversation as the engine knows it: marker links turned back into plain [n]."""
    return [
        Turn(role=m["role"], content=_LINK.sub(r"[\1]", _text(m["content"])))
        for m in messages
        if m["role"] in {"user", "assistant"}
    ]


def build_ui(service: RagService) -> gr.Blocks:
    settings = service.settings

    def respond(question: str, messages: Messages, k: int, llm: str) -> Iterator[tuple[Any, ...]]:
        question = question.strip()
        if not question:
            return
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
            for event in stream:
                if isinstance(event, Answer):
                    final = [*messages, {"role": "assistant", "content": link_markers(event.answer)}]
                    yield final, sources_html(event.citations, service), ""
                else:
                    draft += event
                    yield [*messages, {"role": "assistant", "content": draft}], gr.skip(), ""
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
        lines = []
        for path in progress.tqdm(files or [], desc="Indexing"):
            name = Path(path).name
            try:
                result = service.add_document(name, Path(path).read_bytes())
                lines.append(f"- **{name}**: {result.status}, {result.chunks_added} chunks added")
            except RagError as exc:
                lines.append(f"- **{name}**: not added: {exc}")
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

    with gr.Blocks(title="Ask your documents") as demo:
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
