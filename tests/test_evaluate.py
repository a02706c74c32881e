"""Evaluation runs end to end with real Chroma, the real embedder and the extractive generator.

Answer quality with the local LLM is checked in tests/test_eval_seed.py; here the runner, the
baselines, the per-set index and the report files, whose numbers must still be right.
"""

import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.evaluate import _ReusingGenerator, eval_settings, run_evaluation
from rag.factory import build_store
from rag.generate import ExtractiveGenerator
from rag.naive import CHUNK_SIZE, NaiveChain
from rag.reports import CHART_METRICS, metrics_table, render_chart_svg, render_html, write_reports
from rag.schema import Chunk, ScoredChunk
from tests.conftest import ROOT
from tests.test_cli import Run, rag
from tests.test_viewer import report_pdf

pytestmark = pytest.mark.eval

SEED = ROOT / "evals" / "seed.jsonl"


def test_a_run_on_its_own_corpus_scores_and_leaves_the_default_index_alone(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    calls: list[tuple[int, int, str]] = []
    report = run_evaluation(settings, SEED, corpus=corpus, limit=8, progress=lambda *a: calls.append(a))

    (result,) = report.results
    m = result.metrics
    assert result.name == "hybrid" and m.questions == len(report.records) == 8
    # the first 8 seed questions are answerable and the extractive generator quotes their sentences
    assert m.hit[5] == 1.0 and m.accuracy is not None and m.accuracy >= 0.75
    assert m.citation_precision is not None and m.citation_precision >= 0.75
    assert m.latency_p50_ms is not None and m.latency_p50_ms > 0 and m.retrieval_p50_ms is not None
    assert report.config.git_commit and report.config.llm == "extractive" and report.config.k == settings.top_k
    assert calls[-1][:2] == (8, 8) and [c[0] for c in calls[1:]] == list(range(1, 9))

    assert not build_store(settings).exists()  # the default collection was never created
    own = build_store(eval_settings(settings, corpus))
    version = own.version()
    run_evaluation(settings, SEED, corpus=corpus, limit=1)
    assert own.version() == version  # a second run re-used the index: nothing re-embedded


def test_compare_runs_the_baselines_side_by_side(settings: Settings, corpus: Path, tmp_path: Path) -> None:
    report = run_evaluation(settings, SEED, corpus=corpus, limit=4, k=3, compare=True)
    assert [r.name for r in report.results] == ["hybrid", "dense", "bm25", "naive"]
    assert all(r.metrics.questions == 4 for r in report.results)
    assert report.result("hybrid").metrics.k == 3 and report.result("naive").metrics.k == 4

    # the naive chain cites what it retrieved: whole fixed-size chunks (the article makes 3), top 4
    own = eval_settings(settings, corpus)
    chunks = build_store(own, f"{own.collection_name}-naive").count()
    assert chunks == 3
    naive = [r for r in report.records if r.config == "naive"]
    assert all(len(r.citations) == chunks and all(len(c.text) <= CHUNK_SIZE for c in r.citations) for r in naive)
    assert max(len(c.text) for r in naive for c in r.citations) > 800

    rows = {row["metric"]: row for row in metrics_table(report)}
    mrr = rows["mrr"]
    assert mrr["hybrid ÷ naive"] == round(mrr["hybrid"] / mrr["naive"], 2)  # type: ignore[operator]
    assert set(rows["hit@3"]) == {"metric", "hybrid", "dense", "bm25", "naive", "hybrid ÷ naive"}


def test_report_files(settings: Settings, corpus: Path, tmp_path: Path) -> None:
    report = run_evaluation(settings, SEED, corpus=corpus, limit=3)
    write_reports(report, tmp_path / "out")
    files = write_reports(report, tmp_path / "again")
    for folder in (tmp_path / "out", tmp_path / "again"):
        assert {p.name for p in folder.iterdir()} == {p.name for p in files.values()}

    saved = json.loads(files["json"].read_text())
    assert saved["config"]["evalset"] == "seed" and saved["results"][0]["metrics"]["questions"] == 3
    assert "records" not in saved
    lines = [json.loads(line) for line in files["records"].read_text().splitlines()]
    assert [r["id"] for r in lines] == ["seed-a01", "seed-a02", "seed-a03"]
    assert {"question", "answer", "citations", "correct", "supported", "f1", "retrieved"} <= set(lines[0])

    markdown = files["markdown"].read_text()
    assert "| metric | hybrid |" in markdown and "![metrics per configuration](chart.svg)" in markdown
    page = render_html(report)
    assert page.count("<svg") == 1 and "<table>" in page and "<script" not in page
    svg = render_chart_svg(report)
    assert svg.count("<rect") == 1 + len(CHART_METRICS)  # legend + one bar per chart metric


def test_identical_prompts_are_generated_once(embedder: Embedder) -> None:
    generator = _ReusingGenerator(ExtractiveGenerator(embedder, 0.35))
    passage = ScoredChunk(chunk=Chunk(id="1", source="a", text="Maher fled to Iraq.", start=0, end=19), score=0.8)
    first = list(generator.stream("Where did Maher flee?", [passage]))
    again = list(generator.stream("Where did Maher flee?", [passage]))
    other = list(generator.stream("Who fled?", [passage]))
    assert first == again == ["Maher fled to Iraq. [1]"] and other and generator.reused == 1


def rag_eval(settings: Settings, *args: str) -> Run:
    return rag(settings, "eval", *args)  # in-process (tests/test_cli.py)


def test_cli_eval_json_is_one_object_and_writes_the_reports(settings: Settings, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    args = ["--corpus", str(corpus), "--limit", "2", "--baseline", "naive", "--out", str(out), "--json"]
    proc = rag_eval(settings, str(SEED), *args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert [r["name"] for r in summary["results"]] == ["hybrid", "naive"]
    assert all(r["metrics"]["questions"] == 2 for r in summary["results"])
    assert set(summary["files"]) == {"json", "records", "markdown", "html", "chart"}
    assert all(Path(p).is_file() and Path(p).parent == out for p in summary["files"].values())


def test_cli_eval_errors_are_one_line(settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "question": "Where?"}\n{"id": 2\n')
    proc = rag_eval(settings, str(bad), "--json")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"].startswith(f"{bad}:2: not JSON")
    missing = rag_eval(settings, str(SEED), "--corpus", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "corpus folder not found" in missing.stderr
    bogus = rag_eval(settings, str(SEED), "--baseline", "random")
    assert bogus.returncode == 2 and "unknown baseline random" in bogus.stderr


def test_the_naive_baseline_cites_pages_as_the_chain_does(settings: Settings, embedder: Embedder) -> None:
    (settings.corpus_dir / "report.pdf").write_bytes(report_pdf())
    chain = NaiveChain.indexed(settings, embedder, settings.corpus_dir, progress=False)
    answer = chain.ask("When was the lighthouse of Port Ellery painted green?")
    pdf_citations = [c for c in answer.citations if c.source == "report.pdf"]
    assert pdf_citations and all(c.page is not None for c in pdf_citations)
    assert any(c.page == 2 and "lighthouse" in c.text for c in pdf_citations)
