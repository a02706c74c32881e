"""A Chroma server that dies (killed) or hangs (SIGSTOP) under a running ``rag serve``: every route says
503 with a one-line reason within seconds, and the bot serves again, without a restart, once Chroma is
back. A real ``chroma run`` of this module's own (the session's shared one is left alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from rag.store import document_id
from tests.conftest import Chroma
from tests.server import ARTICLE, Server, serve

QUESTION = "Where did Maher al-Assad flee to?"
LIMIT_S = 5.0


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chroma]:
    server = Chroma(tmp_path_factory.mktemp("own-chroma"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def bot(chroma: Chroma, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"RAG_LLM": "extractive", "RAG_CHROMA_URL": chroma.url, "RAG_ANSWER_CACHE": "0"}
    with serve(tmp_path_factory.mktemp("bot-on-chroma"), env, ui=False) as server:
        yield server


def requests(server: Server) -> dict[str, tuple[str, str, dict[str, object]]]:
    """Every route that needs the index, as (method, path, httpx arguments)."""
    chat = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}
    return {
        "ask": ("POST", "/api/ask", {"json": {"question": QUESTION}}),
        "ask/stream": ("POST", "/api/ask/stream", {"json": {"question": QUESTION}}),
        "/v1": ("POST", "/v1/chat/completions", {"json": chat}),
        "/v1 stream": ("POST", "/v1/chat/completions", {"json": {**chat, "stream": True}}),
        "list": ("GET", "/api/documents", {}),
        "upload": ("POST", "/api/documents", {"files": {"file": ("note.txt", b"The pier opens at seven.")}}),
        "delete": ("DELETE", f"/api/documents/{document_id(ARTICLE.name)}", {}),
        "readyz": ("GET", "/readyz", {}),
    }


def assert_unavailable(server: Server, chroma: Chroma) -> None:
    t0 = time.perf_counter()
    cli = subprocess.run(
        [sys.executable, "-m", "rag.cli", "docs"],
        env={**os.environ, "RAG_CHROMA_URL": chroma.url, "RAG_CORPUS_DIR": str(server.corpus)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr, cli.stderr
    assert cli.stderr.startswith("error: the Chroma server at") and len(cli.stderr.splitlines()) == 1, cli.stderr
    print(f"rag docs: exit 2 in {time.perf_counter() - t0:.2f} s (process start included)")
    with server.client(timeout=60) as client:
        for name, (method, path, kwargs) in requests(server).items():
            t0 = time.perf_counter()
            r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            seconds = time.perf_counter() - t0
            assert r.status_code == 503, (name, r.status_code, r.text)
            body = r.json()
            reason = body.get("detail") or body.get("reason") or body.get("error", {}).get("message", "")
            assert "Chroma server" in reason and "\n" not in reason, (name, body)
            assert seconds < LIMIT_S, (name, seconds)
            print(f"{name}: 503 in {seconds:.2f} s")


def assert_serving(server: Server) -> None:
    with server.client(timeout=120) as client:
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200:  # the first request after the outage may still fail
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.5)
        answer = client.post("/api/ask", json={"question": QUESTION})
        assert answer.status_code == 200 and "Iraq" in answer.json()["answer"], answer.text
        with client.stream("POST", "/api/ask/stream", json={"question": QUESTION}) as r:
            assert r.status_code == 200 and "event: answer" in r.read().decode()
        chat = {"model": "rag", "messages": [{"role": "user", "content": QUESTION}]}
        assert "Iraq" in client.post("/v1/chat/completions", json=chat).json()["choices"][0]["message"]["content"]
        upload = client.post("/api/documents", files={"file": ("note.txt", b"The pier opens at seven.")})
        assert upload.status_code in {200, 201}, upload.text
        documents = {d["source"]: d["id"] for d in client.get("/api/documents").json()["documents"]}
        assert set(documents) == {ARTICLE.name, "note.txt"}
        assert client.delete(f"/api/documents/{documents['note.txt']}").status_code == 200


@pytest.mark.heavy
def test_a_killed_chroma_server_gives_503_at_once_and_the_bot_recovers(bot: Server, chroma: Chroma) -> None:
    assert_serving(bot)
    chroma.kill()
    try:
        assert_unavailable(bot, chroma)
    finally:
        chroma.start()  # same port, same folder
    assert_serving(bot)


@pytest.mark.heavy
def test_a_hung_chroma_server_gives_503_in_seconds_and_the_bot_recovers(bot: Server, chroma: Chroma) -> None:
    assert_serving(bot)
    chroma.signal(signal.SIGSTOP)
    try:
        assert_unavailable(bot, chroma)
    finally:
        chroma.signal(signal.SIGCONT)
    assert_serving(bot)
