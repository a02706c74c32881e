"""A real ``rag serve`` process on a free loopback port, for end-to-end tests of the API and UI."""

from __future__ import annotations

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

import httpx

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
def serve(folder: Path, env: dict[str, str], ready_timeout: float = 240, wait_ready: bool = True) -> Iterator[Server]:
    """Index the default article into ``folder`` and run ``rag serve`` there until the block ends;
    ``wait_ready=False`` waits only for /healthz (for servers that are meant never to be ready)."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    shutil.copy(ARTICLE, corpus / ARTICLE.name)
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
        **env,
    }
    subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest"],
        env=environ,
        cwd=folder,
        check=True,
        capture_output=True,
        timeout=300,
    )
    log = folder / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
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
