"""Conflicting sources: a planted document that contradicts another must not win silently.

Real Chroma, the bundled embedder, the extractive generator (it quotes a passage, so which side it
quotes is not up to a model), and a real server for the API.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.evalset import load_evalset
from rag.factory import build_engine, build_ingestor, build_store
from tests.server import ROOT, serve

PLANTED = "Maher al-Assad fled to Brazil after the fall of the government, according to a later report.\n"
QUESTION = "Where did Maher al-Assad flee to?"


def _engine(settings: Settings, embedder: Embedder):  # type: ignore[no-untyped-def]
    store = build_store(settings)
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    return build_engine(settings, store)


def test_disagreeing_passages_are_both_cited(settings: Settings, embedder: Embedder) -> None:
    (settings.corpus_dir / "planted.txt").write_text(PLANTED)
    answer = _engine(settings, embedder).ask(QUESTION)
    assert not answer.abstained and answer.conflicting
    assert "the documents disagree" in answer.answer
    said = " ".join(c.text for c in answer.citations)
    assert "Iraq" in said and "Brazil" in said  # both sides, each with its source
    assert {c.source for c in answer.citations} == {"syria-assad-fall.txt", "planted.txt"}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_agreeing_documents_raise_no_conflict(settings: Settings, embedder: Embedder) -> None:
    (settings.corpus_dir / "agreeing.txt").write_text("Maher al-Assad, the president's brother, fled to Iraq.\n")
    answer = _engine(settings, embedder).ask(QUESTION)
    assert not answer.abstained and not answer.conflicting and "disagree" not in answer.answer


def test_no_false_alarm_on_the_seed_questions(settings: Settings, embedder: Embedder) -> None:
    engine = _engine(settings, embedder)
    items = [i for i in load_evalset(ROOT / "evals" / "seed.jsonl").items if i.answerable]
    flagged = [i.question for i in items if engine.ask(i.question).conflicting]
    assert flagged == []


@pytest.mark.heavy
def test_the_api_says_the_sources_disagree(tmp_path: Path) -> None:
    with serve(tmp_path, {"RAG_LLM": "extractive"}, ui=False) as server, server.client() as client:
        up = client.post("/api/documents", files={"file": ("planted.txt", PLANTED.encode(), "text/plain")})
        assert up.status_code == 201, up.text
        body = client.post("/api/ask", json={"question": QUESTION}).json()
        assert body["conflicting"] is True and "disagree" in body["answer"]
        assert {c["source"] for c in body["citations"]} == {"syria-assad-fall.txt", "planted.txt"}
        v1 = client.post(
            "/v1/chat/completions", json={"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}
        )
        content = v1.json()["choices"][0]["message"]["content"]
        assert "disagree" in content and "planted.txt" in content and "syria-assad-fall.txt" in content


@pytest.mark.parametrize("question", ["Who won the 2022 World Cup?"])
def test_an_abstention_is_never_a_conflict(settings: Settings, embedder: Embedder, question: str) -> None:
    (settings.corpus_dir / "planted.txt").write_text(PLANTED)
    answer = _engine(settings, embedder).ask(question)
    assert answer.abstained and not answer.conflicting
    assert json.loads(answer.model_dump_json())["conflicting"] is False
