"""Report files of an evaluation run: JSON metrics, per-question JSONL, Markdown and HTML with a chart."""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

from rag.config import Settings
from rag.scoring import EvalReport

# The quality metrics in the chart (all shares between 0 and 1); "hit@k" is the chain's own k.
CHART_METRICS = [
    "hit@k",
    "accuracy",
    "accuracy_cited",
    "accuracy_cited_lenient",
    "f1",
    "abstention_f1",
    "citation_precision",
    "citation_recall",
    "groundedness",
]
COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9ca3af", "#db2777", "#7c3aed"]
_COUNTS = {"questions", "answerable", "unanswerable", "k", "timed_questions"}
BASELINE = "naive"


def metrics_table(report: EvalReport) -> list[dict[str, str | float | int | None]]:
    """One row per metric: ``{"metric": name, <configuration>: value, ..., "<first> ÷ naive": ratio}``.

    The ratio column is there when the naive baseline ran: every improvement is read against it.
    """
    flats = {r.name: r.metrics.flat() for r in report.results}
    first = report.results[0].name
    ratio = f"{first} ÷ {BASELINE}" if BASELINE in flats and first != BASELINE else None
    rows: list[dict[str, str | float | int | None]] = []
    metrics = list(dict.fromkeys(name for f in flats.values() for name in f))
    for metric in metrics:
        row: dict[str, str | float | int | None] = {"metric": metric, **{n: f.get(metric) for n, f in flats.items()}}
        if ratio:
            mine, base = flats[first].get(metric), flats[BASELINE].get(metric)
            row[ratio] = round(mine / base, 2) if metric not in _COUNTS and mine is not None and base else None
        rows.append(row)
    return rows


def render_table(report: EvalReport) -> str:
    """The metrics table in Markdown (also readable as plain text)."""
    rows = metrics_table(report)
    headers = list(rows[0])
    return "\n".join(
        [
            "| " + " | ".join(headers) + " |",
            "|" + "---|" * len(headers),
            *("| " + " | ".join(_cell(str(row["metric"]), row[h], h) for h in headers) + " |" for row in rows),
        ]
    )


def render_markdown(report: EvalReport, chart: str | None = "chart.svg", misses: int = 30) -> str:
    """A Markdown summary: configuration, the metrics table, the chart (a linked SVG file), the misses."""
    lines = [
        f"# Evaluation: {report.config.evalset}",
        "",
        _config_line(report),
        "",
        render_table(report),
        "",
        timing_line(report),
    ]
    if chart:
        lines += ["", f"![metrics per configuration]({chart})"]
    lines += ["", f"## Misses of `{report.results[0].name}` ({len(report.misses())})", ""]
    for r in report.misses()[:misses]:
        gold = "; ".join(r.gold) if r.gold else "(unanswerable)"
        lines.append(f"- `{r.id}` {r.question} → {r.answer!r} (gold: {gold})")
    if len(report.misses()) > misses:
        lines.append(f"- … {len(report.misses()) - misses} more in records.jsonl")
    return "\n".join(lines) + "\n"


def render_html(report: EvalReport) -> str:
    """A self-contained HTML page: the metrics table and the chart inline (no scripts, no network)."""
    rows = metrics_table(report)
    headers = list(rows[0])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(str(row['metric']), row[h], h))}</td>" for h in headers) + "</tr>"
        for row in rows
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>Evaluation: {html.escape(report.config.evalset)}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:60em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>Evaluation: {html.escape(report.config.evalset)}</h1>"
        f"<p>{html.escape(_config_line(report))}</p>"
        f"{render_chart_svg(report)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p>{html.escape(timing_line(report))}</p></body></html>\n"
    )


def render_chart_svg(report: EvalReport) -> str:
    """Grouped horizontal bars: each quality metric, one bar per configuration, on a 0-1 scale."""
    names = [r.name for r in report.results]
    flats = {r.name: r.metrics.flat() for r in report.results}
    label_w, bar_w, bar_h, gap = 150, 360, 12, 10
    group_h = bar_h * len(names) + gap
    top = 24
    height = top + group_h * len(CHART_METRICS) + 10
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{label_w + bar_w + 60}' height='{height}' "
        "font-family='sans-serif' font-size='11' role='img' aria-label='metrics per configuration'>"
    ]
    for i, name in enumerate(names):  # legend
        x = label_w + i * 90
        parts.append(f"<rect x='{x}' y='4' width='10' height='10' fill='{COLOURS[i % len(COLOURS)]}'/>")
        parts.append(f"<text x='{x + 14}' y='13'>{html.escape(name)}</text>")
    for g, metric in enumerate(CHART_METRICS):
        y0 = top + g * group_h
        key = f"hit@{report.results[0].metrics.k}" if metric == "hit@k" else metric
        parts.append(f"<text x='{label_w - 6}' y='{y0 + group_h / 2}' text-anchor='end'>{html.escape(key)}</text>")
        for i, name in enumerate(names):
            value = flats[name].get(key)
            y = y0 + i * bar_h
            width = bar_w * max(0.0, min(1.0, float(value))) if value is not None else 0
            parts.append(
                f"<rect x='{label_w}' y='{y}' width='{width:.1f}' height='{bar_h - 2}' "
                f"fill='{COLOURS[i % len(COLOURS)]}'><title>{html.escape(name)} {key}: {_fmt(value)}</title></rect>"
            )
            parts.append(f"<text x='{label_w + width + 4:.1f}' y='{y + bar_h - 3}'>{_fmt(value)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def default_out_dir(settings: Settings, evalset: str) -> Path:
    """Where a run's files go unless told: a new folder per run inside the data folder."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return settings.data_dir / "eval" / f"{evalset}-{stamp}"


def write_reports(report: EvalReport, out: Path) -> dict[str, Path]:
    """Write report.json (metrics and configuration), records.jsonl (per question), summary.md,
    summary.html and chart.svg into ``out``; returns their paths by kind."""
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "json": out / "report.json",
        "records": out / "records.jsonl",
        "markdown": out / "summary.md",
        "html": out / "summary.html",
        "chart": out / "chart.svg",
    }
    files["json"].write_text(report.model_dump_json(indent=2, exclude={"records"}) + "\n", encoding="utf-8")
    with files["records"].open("w", encoding="utf-8") as f:
        for r in report.records:
            f.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
    files["markdown"].write_text(render_markdown(report, chart=files["chart"].name), encoding="utf-8")
    files["html"].write_text(render_html(report), encoding="utf-8")
    files["chart"].write_text(render_chart_svg(report) + "\n", encoding="utf-8")
    return files


def _config_line(report: EvalReport) -> str:
    c = report.config
    commit = f"{c.git_commit[:10]}{' (uncommitted changes)' if c.git_dirty else ''}" if c.git_commit else "unknown"
    return (
        f"{c.questions} questions from {c.evalset_path}; corpus {c.corpus}; generator {c.llm} ({c.llm_model}); "
        f"embedder {c.embedding_model}; k={c.k}, fetch_k={c.fetch_k}, max_sentences={c.max_sentences}, "
        f"chunks {c.chunk_size}/{c.chunk_overlap}; min_score={c.min_score}, min_support={c.min_support}, "
        f"decline_threshold={c.decline_threshold}, judge_threshold={c.judge_threshold}; commit {commit}; "
        f"{c.machine}; started {c.started_at}."
    )


def timing_line(report: EvalReport) -> str:
    per = ", ".join(f"{r.name} {r.seconds:.0f} s ({r.reused} answers reused)" for r in report.results)
    return f"Run time {report.seconds:.0f} s: {per}."


def _cell(metric: str, value: str | float | int | None, column: str) -> str:
    if column == "metric" or isinstance(value, str):
        return str(value)
    if value is None:
        return "—"
    if "÷" in column:
        return f"{value:.2f}x"
    if metric in _COUNTS:
        return str(value)
    return f"{value:.0f}" if metric.endswith("_ms") else f"{value:.3f}"


def _fmt(value: float | int | None) -> str:
    return "—" if value is None else f"{value:.2f}"
