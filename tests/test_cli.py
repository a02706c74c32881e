"""The ``rag`` command as a user runs it: real processes, real index, JSON output, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Settings


def rag(
    settings: Settings, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "RAG_CORPUS_DIR": str(settings.corpus_dir),
        "RAG_DATA_DIR": str(settings.data_dir),
        "RAG_LLM": "extractive",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=settings.data_dir.parent,
        timeout=timeout,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_ingest_ask_docs_with_json(settings: Settings) -> None:
    first = json.loads(rag(settings, "ingest", "--json").stdout)
    assert first["chunks_added"] > 0 and first["files"][0]["status"] == "added"
    again = json.loads(rag(settings, "ingest", "--json").stdout)
    assert again["chunks_added"] == 0 and again["files"][0]["status"] == "unchanged"

    out = json.loads(rag(settings, "ask", "Where did Maher al-Assad flee to?", "--json").stdout)
    assert set(out) >= {"answer", "citations", "abstained", "timings_ms"}
    assert "Iraq" in out["answer"] and not out["abstained"]
    cite = out["citations"][0]
    assert set(cite) >= {"n", "source", "chunk_id", "text", "start", "end", "score", "file_sha256", "index_version"}
    assert "fled to Iraq" in cite["text"]

    cup = json.loads(rag(settings, "ask", "Who won the 2022 World Cup?", "--json").stdout)
    assert cup["abstained"] is True and cup["citations"] == []
    assert cup["abstain_reason"] == "not_in_documents" and "'cup'" in cup["abstain_detail"]
    assert cup["nearest"] and cup["nearest"][0]["source"] == "syria-assad-fall.txt"
    assert "nearest" not in out  # an answer shows its citations, not the nearest passages

    listing = json.loads(rag(settings, "docs", "--json").stdout)
    assert listing["documents"][0]["source"] == "syria-assad-fall.txt"
    assert listing["documents"][0]["chunks"] == first["chunks_total"]


def test_chat_answers_follow_ups_in_json(settings: Settings) -> None:
    rag(settings, "ingest")
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "chat", "--json"],
        input="Where did Bashar al-Assad go after leaving the capital?\nWhere did his brother Maher flee?\n",
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "RAG_CORPUS_DIR": str(settings.corpus_dir),
            "RAG_DATA_DIR": str(settings.data_dir),
            "RAG_LLM": "extractive",
        },
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
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
    proc = rag(settings, "ask", "Where did Maher al-Assad flee to?", "--json")
    assert "rag ingest" in one_line_error(proc)
    assert "rag ingest" in json.loads(proc.stdout)["error"]


def test_a_model_that_fails_to_load_is_one_line(settings: Settings, tmp_path: Path) -> None:
    rag(settings, "ingest")
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 64)
    proc = rag(
        settings, "ask", "Where did Maher al-Assad flee to?", env={"RAG_LLM": "local", "RAG_GGUF_PATH": str(bad)}
    )
    assert "cannot load the local LLM" in one_line_error(proc)
    missing = rag(settings, "ask", "Where?", env={"RAG_LLM": "local", "RAG_GGUF_PATH": str(tmp_path / "none.gguf")})
    assert "not found" in one_line_error(missing)


def test_a_missing_embedding_model_is_one_line(settings: Settings, tmp_path: Path) -> None:
    proc = rag(settings, "ingest", env={"RAG_EMBEDDING_MODEL": str(tmp_path / "nowhere")})
    assert "embedding model folder not found" in one_line_error(proc)


def test_ingest_of_a_missing_path_is_one_line(settings: Settings, tmp_path: Path) -> None:
    assert "no such file" in one_line_error(rag(settings, "ingest", str(tmp_path / "nope")))
