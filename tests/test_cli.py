"""The ``rag`` command: JSON contracts and one-line errors, run in-process with Typer's CliRunner on a real
index (real Chroma, the bundled embedder); one test runs it as a real process, as a user's shell does."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.config import Settings


@dataclass
class Run:
    """What a run of the command left: exit code, stdout and stderr (as ``subprocess.CompletedProcess``)."""

    returncode: int
    stdout: str
    stderr: str


def rag(settings: Settings, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Run:
    """``rag ARGS`` in this process, with the environment and working folder a user's shell would give it.

    An exception the command does not turn into an exit code (a bug, not a user error) is raised here,
    with its traceback. ``timeout`` is kept for callers written for a subprocess; pytest-timeout applies.
    """
    environ = {
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_DATA_DIR": str(settings.data_dir),
        "RAG_LLM": "extractive",
        **(env or {}),
    }
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command configures logging for its process
    try:
        with contextlib.chdir(settings.data_dir.parent):
            result = CliRunner().invoke(app, list(args), env=environ, catch_exceptions=True)
    finally:
        root.handlers[:], root.level = handlers, level
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def one_line_error(proc: Run | subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


MAHER = "Where did Maher al-Assad flee to?"


def test_ingest_ask_docs_with_json(settings: Settings) -> None:
    first = json.loads(rag(settings, "ingest", "--json").stdout)
    assert first["chunks_added"] > 0 and first["files"][0]["status"] == "added"
    again = json.loads(rag(settings, "ingest", "--json").stdout)
    assert again["chunks_added"] == 0 and again["files"][0]["status"] == "unchanged"

    out = json.loads(rag(settings, "ask", MAHER, "--json").stdout)
    assert set(out) >= {"answer", "citations", "abstained", "timings_ms"}
    assert "Iraq" in out["answer"] and not out["abstained"]
    cite = out["citations"][0]
    assert set(cite) >= {"n", "source", "chunk_id", "text", "start", "end", "score"}
    assert "fled to Iraq" in cite["text"]
    assert out["edited_since_indexed"] == []

    cup = json.loads(rag(settings, "ask", "Who won the 2022 World Cup?", "--json").stdout)
    assert cup["abstained"] is True and cup["citations"] == []
    assert cup["abstain_reason"] == "not_in_documents" and "'cup'" in cup["abstain_detail"]
    assert cup["nearest"] and cup["nearest"][0]["source"] == "syria-assad-fall.txt"
    assert "nearest" not in out  # an answer shows its citations, not the nearest passages

    listing = json.loads(rag(settings, "docs", "--json").stdout)
    assert listing["documents"][0]["source"] == "syria-assad-fall.txt"
    assert listing["documents"][0]["chunks"] == first["chunks_total"]


def test_an_answer_says_when_a_cited_file_was_edited_since_it_was_indexed(settings: Settings) -> None:
    rag(settings, "ingest")
    article = settings.corpus_dir / "syria-assad-fall.txt"
    article.write_text(article.read_text().replace("fled to Iraq", "fled to Oman"))  # not ingested again
    out = json.loads(rag(settings, "ask", MAHER, "--json").stdout)
    assert "Iraq" in out["answer"] and out["edited_since_indexed"] == ["syria-assad-fall.txt"]
    text = rag(settings, "ask", MAHER).stdout
    assert "note: syria-assad-fall.txt was edited or removed since it was indexed" in text

    rag(settings, "ingest")
    assert json.loads(rag(settings, "ask", MAHER, "--json").stdout)["edited_since_indexed"] == []
    article.unlink()  # removed, not ingested: the index still answers from it, and says so
    assert json.loads(rag(settings, "ask", MAHER, "--json").stdout)["edited_since_indexed"] == ["syria-assad-fall.txt"]


def test_chat_answers_follow_ups_in_json(indexed_settings: Settings) -> None:
    questions = "Where did Bashar al-Assad go after leaving the capital?\nWhere did his brother Maher flee?\n"
    environ = {
        "RAG_CORPUS_DIR": str(indexed_settings.corpus_dir),
        "RAG_DATA_DIR": str(indexed_settings.data_dir),
        "RAG_LLM": "extractive",
    }
    result = CliRunner().invoke(app, ["chat", "--json"], input=questions, env=environ, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 2
    assert "Iraq" in answers[1]["answer"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "question is empty"),
        (["ask", "x" * 2001], "limit is 2000"),
    ],
)
def test_bad_questions_fail_in_one_line(settings: Settings, args: list[str], message: str) -> None:
    assert message in one_line_error(rag(settings, *args))


def test_missing_index_fails_in_one_line_with_json(settings: Settings) -> None:
    proc = rag(settings, "ask", MAHER, "--json")
    assert "rag ingest" in one_line_error(proc)
    assert "rag ingest" in json.loads(proc.stdout)["error"]


def test_a_model_that_fails_to_load_is_one_line(indexed_settings: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    proc = rag(indexed_settings, "ask", MAHER, env={"RAG_LLM": "local", "RAG_GGUF_PATH": str(bad)})
    assert "cannot load the local LLM" in one_line_error(proc)
    missing = rag(indexed_settings, "ask", "Where?", env={"RAG_LLM": "local", "RAG_GGUF_PATH": str(tmp_path / "no")})
    assert "not found" in one_line_error(missing)


def test_a_missing_embedding_model_is_one_line(settings: Settings, tmp_path: Path) -> None:
    proc = rag(settings, "ingest", env={"RAG_EMBEDDING_MODEL": str(tmp_path / "nowhere")})
    assert "embedding model folder not found" in one_line_error(proc)


def test_ingest_of_a_missing_path_is_one_line(settings: Settings, tmp_path: Path) -> None:
    assert "no such file" in one_line_error(rag(settings, "ingest", str(tmp_path / "nope")))


@pytest.mark.heavy
def test_the_command_as_a_separate_process(settings: Settings) -> None:
    """The entry point as a shell runs it: models load from disk in a fresh process, JSON alone on stdout,
    and a user error is exit code 2 with one line on stderr and nothing else."""
    environ = {
        **os.environ,
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_DATA_DIR": str(settings.data_dir),
        "RAG_LLM": "extractive",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rag.cli", *args],
            capture_output=True, text=True, env=environ, cwd=settings.data_dir.parent, timeout=300,
        )  # fmt: skip

    ingested = run("ingest", "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["files"][0]["status"] == "added"
    asked = run("ask", MAHER, "--json")
    assert asked.returncode == 0 and "Iraq" in json.loads(asked.stdout)["answer"], asked.stderr
    refused = run("ask", "", "--json")
    assert refused.returncode == 2 and refused.stderr == "error: the question is empty\n", refused.stderr
    assert json.loads(refused.stdout) == {"error": "the question is empty"}
