"""The ``rag`` command: ingest, ask, chat, docs, eval, calibrate. Every command takes ``--json``."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from rag.citations import where
from rag.config import Settings
from rag.errors import MissingFile, RagError
from rag.generators import kinds_text
from rag.logs import configure
from rag.schema import Answer, Turn

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Ask questions about your documents.")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
KOpt = Annotated[int | None, typer.Option("--k", "-k", min=1, max=50, help="Passages to retrieve.")]
LlmOpt = Annotated[str | None, typer.Option("--llm", help=f"Generator: {kinds_text()} (default RAG_LLM).")]
T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    configure(settings.log_level, settings.log_json)
    return settings


def _run(as_json: bool, fn: Callable[[], T]) -> T:
    """Run a command; a user error becomes one line (and a JSON object with --json) and exit code 2.

    Only ``RagError`` is a user error: anything else is a bug and shows its traceback."""
    try:
        return fn()
    except RagError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if as_json:
            print(json.dumps({"error": message}))
        print(f"error: {message}", file=sys.stderr)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _print_answer(answer: Answer, as_json: bool, settings: Settings) -> None:
    from rag.sources import edited_since_indexed

    # The index answers from the files as they were ingested: say when a cited one was edited since.
    edited = edited_since_indexed(settings, answer)
    if as_json:
        fields = {"answer", "citations", "abstained", "grounded", "timings_ms", "abstain_reason", "abstain_detail"}
        shown = answer.model_dump(include={*fields, "nearest"} if answer.abstained else fields)
        print(json.dumps({**shown, "edited_since_indexed": edited}))
        return
    print(answer.answer)
    if answer.abstain_detail:
        print(f"  ({answer.abstain_detail})")
    if answer.nearest:
        print("  Nearest passages:")
    for c in answer.citations or answer.nearest:
        excerpt = " ".join(c.text.split())
        print(f"  [{c.n}] {where(c)} (chars {c.start}-{c.end}, score {c.score:.2f}): {excerpt[:200]}")
    for source in edited:
        print(
            f"  note: {source} was edited or removed since it was indexed: run 'rag ingest' to answer from it as it is"
        )


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: RAG_CORPUS_DIR).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index documents: only new or changed files are embedded; vanished files are removed.

    Unreadable files are skipped with their reason (exit code 0); a file that could not be indexed for
    another reason is skipped too, the other files are indexed, and the exit code is 1. Ctrl-C stops at
    the next page or batch with the index consistent (exit code 130); a second Ctrl-C stops at once."""
    settings = _settings()

    def go() -> int:
        import signal

        from rag.factory import build_ingestor

        for path in paths or []:
            if not path.exists():  # checked before any model loads
                raise MissingFile(f"no such file or folder: {path}")
        ingestor = build_ingestor(settings)

        def cancel(signum: int, frame: object) -> None:
            if ingestor.cancel.is_set():
                raise KeyboardInterrupt  # asked twice: stop now (the next run finishes what is pending)
            ingestor.cancel.set()
            print("\ncancelling: stopping at the next page or batch (Ctrl-C again to stop at once)", file=sys.stderr)

        previous = signal.signal(signal.SIGINT, cancel)
        try:
            report = ingestor.run(paths or [settings.corpus_dir])
        finally:
            signal.signal(signal.SIGINT, previous)
        if as_json:
            print(report.model_dump_json())
            return 130 if report.cancelled else 1 if ingestor.failed else 0
        if report.cancelled:
            print(
                f"cancelled: {len(report.files)} files done, the others left as they were; run it again to finish",
                file=sys.stderr,
            )
        for f in report.files:
            if f.status == "skipped":
                print(f"skipped {f.source}: {f.reason}")
        print(
            f"{len(report.files)} files: {report.count('added')} added, {report.count('updated')} updated, "
            f"{report.count('unchanged')} unchanged, {report.count('removed')} removed, "
            f"{report.count('skipped')} skipped; chunks +{report.chunks_added} -{report.chunks_removed}, "
            f"{report.chunks_total} in the index ({report.seconds:.1f} s)"
        )
        if report.cancelled:
            return 130
        if ingestor.failed:
            print(f"{len(ingestor.failed)} files could not be indexed: see above", file=sys.stderr)
            return 1
        return 0

    if code := _run(as_json, go):
        raise typer.Exit(code)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, in plain language.")],
    k: KOpt = None,
    llm: LlmOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Answer one question from the indexed documents, with citations."""
    settings = _settings(llm=llm)

    def go() -> None:
        from rag.answer import validate_question
        from rag.factory import build_engine

        validate_question(question, settings.max_question_chars)  # fail before loading any model
        _print_answer(build_engine(settings).ask(question, k=k), as_json, settings)

    _run(as_json, go)


@app.command()
def chat(k: KOpt = None, llm: LlmOpt = None, as_json: JsonOpt = False) -> None:
    """Interactive multi-turn chat; follow-up questions are understood in context. Ctrl-D to leave."""
    settings = _settings(llm=llm)

    def go() -> None:
        from rag.factory import build_engine
        from rag.stream import AnswerStream

        engine = build_engine(settings)
        engine.retriever.store.require_index()
        history: list[Turn] = []
        interactive = sys.stdin.isatty() and not as_json
        while True:
            try:
                question = input("you> " if interactive else "")
            except EOFError:
                return
            if question.strip() in {"exit", "quit", ":q"}:
                return
            if not question.strip():
                continue
            stream = AnswerStream(engine.stream(question, history, k))
            try:
                for token in stream.tokens():
                    if interactive:
                        print(token, end="", flush=True)
                answer = stream.result()
            except RagError as exc:
                print(json.dumps({"error": str(exc)}) if as_json else f"error: {exc}")
                continue
            if interactive:
                print("\r\033[K", end="")  # clear the streamed line; the checked answer follows
            _print_answer(answer, as_json, settings)
            history += [Turn(role="user", content=question), Turn(role="assistant", content=answer.answer)]

    _run(as_json, go)


@app.command()
def docs(as_json: JsonOpt = False) -> None:
    """List indexed documents with their chunk counts."""
    settings = _settings()

    def go() -> None:
        from rag.factory import build_store

        store = build_store(settings)
        documents = store.documents() if store.exists() else []
        if as_json:
            print(json.dumps({"collection": store.name, "documents": [d.model_dump() for d in documents]}))
            return
        for d in documents:
            print(f"{d.chunks:6d}  {d.source}")
        print(f"{len(documents)} documents, {sum(d.chunks for d in documents)} chunks in '{store.name}'")

    _run(as_json, go)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (default RAG_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default RAG_PORT, 8000).")] = None,
    llm: LlmOpt = None,
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve the web UI at /ui (--no-ui: the API alone).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Start the HTTP API (/api, /v1, /docs) and the web UI (/ui) on one port."""
    settings = _settings(llm=llm, host=host, port=port)

    def go() -> None:
        import uvicorn

        from api.app import create_app

        app = create_app(settings, ui=ui)
        url = f"http://{settings.host}:{settings.port}"
        if as_json:
            print(json.dumps({"url": url, "ui": f"{url}/ui/" if ui else None, "docs": f"{url}/docs"}), flush=True)
        else:
            where = f"web UI at {url}/ui/  " if ui else ""
            print(f"rag: {where}API docs at {url}/docs  (Ctrl-C to stop)", flush=True)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(), access_log=False)

    _run(as_json, go)


class EvalSplit(StrEnum):
    """The split of an eval set to run (``rag.evalset.SPLITS``)."""

    dev = "dev"
    test = "test"


@app.command("eval")
def eval_(
    evalset: Annotated[
        Path, typer.Argument(help="JSONL eval set, or a manifest (a .toml file, or a folder with evalset.toml).")
    ],
    corpus: Annotated[
        Path | None, typer.Option(help="Evaluate against this folder, indexed into its own collection.")
    ] = None,
    k: KOpt = None,
    llm: LlmOpt = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    split: Annotated[
        EvalSplit | None,
        typer.Option(help="Only the questions of this split: dev (tune on it) or test (report it). Default: all."),
    ] = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Also run dense-only, BM25-only and the naive baseline chain.")
    ] = False,
    baseline: Annotated[
        list[str] | None,
        typer.Option(help="Compare with this baseline only: dense, bm25 or naive (repeatable)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the report files (default: RAG_DATA_DIR/eval/<set>-<time>).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run an eval set against the bot: retrieval, answers, abstention, citations, latency; writes reports."""
    settings = _settings(llm=llm)

    def go() -> None:
        from rag.evaluate import ProgressBar, run_evaluation
        from rag.reports import default_out_dir, render_table, timing_line, write_reports

        bar = ProgressBar()
        try:
            report = run_evaluation(
                settings,
                evalset,
                corpus=corpus,
                k=k,
                limit=limit,
                split=split.value if split else None,
                compare=compare or baseline or False,
                progress=bar,
            )
        finally:
            bar.close()
        files = write_reports(report, out or default_out_dir(settings, report.config.evalset))
        if as_json:
            summary = report.model_dump(mode="json", exclude={"records"})
            print(json.dumps({**summary, "files": {kind: str(path) for kind, path in files.items()}}))
            return
        for r in report.misses():
            print(f"MISS {r.id}: {r.question} -> {r.answer!r} (gold {r.gold})")
        print(render_table(report))
        print(timing_line(report))
        print(f"reports: {files['markdown']} {files['html']} {files['json']} {files['records']}")

    _run(as_json, go)


@app.command()
def calibrate(
    target: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Most of the unanswerable questions that may be answered (a share)."),
    ] = 0.05,
    passages: Annotated[
        int, typer.Option(min=2, max=1000, help="Passages to write questions from, spread over the documents.")
    ] = 30,
    min_score: Annotated[
        bool, typer.Option("--min-score/--no-min-score", help="Also tune RAG_MIN_SCORE (raise it only).")
    ] = True,
    show: Annotated[bool, typer.Option("--show", help="Print the stored calibration; compute nothing.")] = False,
    llm: LlmOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tune the decline and judge thresholds (and min score) on your documents; engines use the result.

    The generator writes a question for each sampled passage; each is asked with its passage and
    again with the passage hidden (a near miss the bot should decline). Thresholds are chosen on half
    of the passages and the other half's rates are reported. Minutes with the local LLM; re-runs reuse
    the questions and answers already computed."""
    settings = _settings(llm=llm)

    def go() -> None:
        from rag.calibration import calibration_path, judge_text, load_calibration
        from rag.factory import build_store

        if show:
            found = load_calibration(settings, build_store(settings))
            if found is None:
                raise RagError(f"no calibration stored for '{settings.collection_name}': run 'rag calibrate'")
        else:
            from rag.calibrate import run_calibration  # the measuring, only when asked to measure

            found = run_calibration(settings, target, passages, sweep_min_score=min_score)
        if as_json:
            print(found.model_dump_json())
            return
        h, f, b = found.held_out, found.fit, found.before
        stale = "  STALE: the documents changed since; re-run to refresh" if found.stale else ""
        print(f"calibration of '{found.collection}' for {found.llm} ({found.model}), {found.created}{stale}")
        print(
            f"  decline threshold {found.decline_threshold:g}, min score {found.min_score:g}"
            f"{judge_text(found.judge_threshold)} (without it: {b.decline_threshold:g}, {b.min_score:g}"
            f"{judge_text(b.judge_threshold, '')}); target: at most {found.target:.0%} "
            f"of unanswerable questions answered"
        )
        for label, r, before in (("fitting half", f, b.fit), ("held out    ", h, b.held_out)):
            print(
                f"  {label}: answered {r.unanswerable_answered}/{r.unanswerable} unanswerable "
                f"({r.answered_unanswerable:.0%}, was {before.answered_unanswerable:.0%}), "
                f"{r.answerable_answered}/{r.answerable} answerable "
                f"({r.answered_answerable:.0%}, was {before.answered_answerable:.0%})"
            )
        if found.tradeoffs:
            print("  other targets (held-out half: unanswerable / answerable answered):")
        for o in found.tradeoffs:
            print(
                f"    at most {o.target:.0%}{'' if o.target_met else ' (not reachable)'}: decline "
                f"{o.decline_threshold:g}, min score {o.min_score:g}{judge_text(o.judge_threshold, 'judge ')} -> "
                f"{o.held_out.answered_unanswerable:.0%} / {o.held_out.answered_answerable:.0%}"
            )
        print(f"  {found.passages} passages, {found.seconds:.0f} s; {found.note}")
        print(f"  stored in {calibration_path(settings)}")

    _run(as_json, go)


if __name__ == "__main__":
    app()
