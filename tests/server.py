"""The app under test: a real ``rag serve`` process on a free loopback port (end-to-end tests that need
sockets, processes or the web UI), or the same app driven in this process by Starlette's TestClient
(contracts and error cases)."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from rag.config import Settings

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "corpus" / "syria-assad-fall.txt"


@dataclass
class Server:
    url: str
    corpus: Path
    log: Path
    key: str | None = None
    pid: int = 0

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def client(self, timeout: float = 300) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(
    folder: Path, env: dict[str, str], ready_timeout: float = 240, wait_ready: bool = True, ui: bool = True
) -> Iterator[Server]:
    """Run ``rag serve`` on a corpus folder holding the default article until the block ends.

    The server indexes the folder itself at start-up (its check of the corpus folder against the index)
    and /readyz waits for that, so no ``rag ingest`` process is needed first. ``wait_ready=False`` waits
    only for /healthz (for a server whose readiness the caller checks itself, e.g. with a key it set).
    ``ui=False`` serves the API alone (``rag serve --no-ui``), for tests that never open the web UI."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    with run_server(folder, env, "server.log", ready_timeout, wait_ready, ui) as server:
        yield server


@contextmanager
def run_server(
    folder: Path,
    env: dict[str, str],
    log_name: str,
    ready_timeout: float = 240,
    wait_ready: bool = True,
    ui: bool = True,
) -> Iterator[Server]:
    """``rag serve`` on the folder as it is (its corpus/ and index/, nothing added): what ``serve`` runs,
    and a server started again on a folder an earlier one left. Its output goes to ``folder/log_name``."""
    corpus = folder / "corpus"
    port = free_port()
    environ = {
        **os.environ,
        "RAG_CORPUS_DIR": str(corpus),
        "RAG_DATA_DIR": str(folder / "index"),
        "RAG_EXAMPLES": "0",
        "RAG_LOG_LEVEL": "INFO",
        "HF_HUB_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        # Gradio's cache of its own: servers of parallel test workers never clean up each other's files.
        "GRADIO_TEMP_DIR": str(folder / "gradio"),
        **env,
    }
    log = folder / log_name
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *([] if ui else ["--no-ui"])],
            env=environ,
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", corpus, log, env.get("RAG_API_KEY"), proc.pid)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            assert proc.poll() is None, f"server exited:\n{log.read_text()}"
            try:
                probe = "/readyz" if wait_ready else "/healthz"
                if httpx.get(f"{server.url}{probe}", headers=server.headers, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"server not ready:\n{log.read_text()}"
            time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        # Every test that used the server must have left it without a crash.
        assert "Traceback" not in log.read_text(), log.read_text()


# The loopback name the app answers to by default (TestClient's own "testserver" is not one).
IN_PROCESS_URL = "http://127.0.0.1"


def app_settings(folder: Path, **overrides: Any) -> Settings:
    """Settings as ``serve`` gives its server: a corpus folder holding the default article, the index beside
    it, the extractive generator, no example questions; ``overrides`` as RAG_* variables would set them."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
    fields: dict[str, Any] = {"corpus_dir": corpus, "data_dir": folder / "index", "llm": "extractive", "examples": 0}
    return Settings(_env_file=None, **(fields | overrides))  # type: ignore[call-arg]


@contextmanager
def in_process(settings: Settings, timeout: float = 240, wait_ready: bool = True) -> Iterator[TestClient]:
    """The app ``rag serve`` runs (routes, middleware, error handlers, service), minus the web UI, in this
    process: no port and no process start. Its start-up runs as in a server (the corpus folder is indexed,
    models load) and the client waits for /readyz (``wait_ready=False``: not, for apps meant never to be
    ready). An exception the app does not turn into a response is raised in the test, with its traceback;
    the key, when set, is sent with every request."""
    from api.app import create_app

    key = settings.api_key.get_secret_value() if settings.api_key else None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    tracebacks = _Tracebacks()
    logging.getLogger().addHandler(tracebacks)
    try:
        with TestClient(create_app(settings, ui=False), base_url=IN_PROCESS_URL, headers=headers) as client:
            deadline = time.monotonic() + timeout
            while wait_ready and (ready := client.get("/readyz")).status_code != 200:
                assert time.monotonic() < deadline, f"not ready: {ready.text}"
                time.sleep(0.1)
            yield client
    finally:
        logging.getLogger().removeHandler(tracebacks)
    # As for a server process: every test that used the app left it without a logged error's traceback.
    assert not tracebacks.seen, "\n\n".join(tracebacks.seen)


class _Tracebacks(logging.Handler):
    """Collects the errors logged with a traceback (the app's background threads included)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.seen.append(logging.Formatter().format(record))


def anonymous(client: TestClient) -> TestClient:
    """A client of the same running app that sends no key."""
    return TestClient(client.app, base_url=IN_PROCESS_URL)
