"""Shared fixtures: a real Chroma in a temp folder and the real bundled embedder, loaded once."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# The suite runs in parallel worker processes (pytest-xdist, pyproject.toml), one per core: torch's and
# llama.cpp's own thread per core in every worker would make them fight over the cores (llama.cpp's threads
# wait for each other at every step). Servers a worker starts inherit it. llama.cpp gives the same tokens
# on any number of threads (each thread computes whole rows).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("RAG_LLM_THREADS", "1")

from rag.config import Settings
from rag.embeddings import Embedder, get_embedder
from rag.store import Store
from tests.server import Server, free_port, serve

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "syria-assad-fall.txt"


CHROMIUM = "/usr/bin/chromium"
# This machine has no route to the internet: background services would only fail and slow the start.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's package) driven by Playwright, for the web UI's browser tests."""
    from playwright.sync_api import sync_playwright  # only the browser tests need Playwright

    assert shutil.which(CHROMIUM), "Chromium missing: `make test` installs Debian's chromium package"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@contextmanager
def ui_page(browser: Browser, url: str, width: int, height: int) -> Iterator[Page]:
    """A fresh browser context showing the web UI at ``url``, closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(f"{url}/ui/")
    yield page
    context.close()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker more than cores, since many heavy tests wait on a server, a kill or a
    timeout, and at most 4 (each worker holds the models it loads)."""
    return min(4, (os.cpu_count() or 1) + 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Which tests share a worker (``--dist loadgroup``): every test of the local LLM, so that one worker
    at a time holds the 1.1 GB model and runs it on all cores, and the tests of a file that share one of
    its module fixtures (a server, a browser), which would otherwise start once in every worker. The
    others go wherever a worker is free.

    Heavy tests (real server processes, kills and restarts, big files) are handed out first: what is
    left for the end is short, so no worker idles while another finishes a long test."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)  # stable: file order otherwise
    for item in items:
        if item.get_closest_marker("llm"):
            item.add_marker(pytest.mark.xdist_group("llm"))
        elif _uses_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def _uses_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info else []
    return any(d.scope in ("module", "class", "package") for group in defs for d in group)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules that set ``BACKENDS = ("embedded", "server")`` run each test on both Chroma modes."""
    backends = getattr(metafunc.module, "BACKENDS", None)
    if backends and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backends)


@pytest.fixture()
def backend() -> str:
    return "embedded"


class Chroma:
    """``chroma run`` on a fixed port and folder, so it can be killed and started again in the same place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        chroma = Path(sys.executable).with_name("chroma")
        with (self.folder / "chroma.log").open("a") as log:
            self.proc = subprocess.Popen(
                [str(chroma), "run", "--path", str(self.folder / "data"), "--host", "127.0.0.1",
                 "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, (self.folder / "chroma.log").read_text()
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the Chroma server did not start"
            time.sleep(0.3)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, sig)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (``chroma run``, from the chromadb package) on a free loopback port."""
    server = Chroma(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return get_embedder(None)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(ARTICLE, folder / ARTICLE.name)
    return folder


@pytest.fixture()
def settings(tmp_path: Path, corpus: Path, backend: str, request: pytest.FixtureRequest) -> Settings:
    server = {}
    if backend == "server":  # one server for the session: each test gets a collection of its own
        server = {"chroma_url": request.getfixturevalue("chroma_server"), "collection": f"t-{uuid.uuid4().hex[:12]}"}
    return Settings(
        corpus_dir=corpus,
        data_dir=tmp_path / "index",
        llm="extractive",
        _env_file=None,  # type: ignore[call-arg]
        **server,
    )


@pytest.fixture()
def store(settings: Settings) -> Store:
    from rag.factory import build_store

    return build_store(settings)


@pytest.fixture(scope="session")
def shared_indexes(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str], Settings]:
    """The default article indexed once per session and Chroma mode (real Chroma, the bundled embedder):
    embedding it again for every test that only reads it cost seconds a test."""
    from rag.factory import build_ingestor

    built: dict[str, Settings] = {}

    def index(backend: str) -> Settings:
        if backend not in built:
            folder = tmp_path_factory.mktemp(f"indexed-{backend}")
            corpus = folder / "corpus"
            corpus.mkdir()
            shutil.copy(ARTICLE, corpus / ARTICLE.name)
            server = {}
            if backend == "server":
                server = {"chroma_url": request.getfixturevalue("chroma_server"), "collection": "shared-index"}
            settings = Settings(
                corpus_dir=corpus, data_dir=folder / "index", llm="extractive",
                _env_file=None,  # type: ignore[call-arg]
                **server,
            )  # fmt: skip
            build_ingestor(settings).run([corpus], progress=False)
            built[backend] = settings
        return built[backend]

    return index


@pytest.fixture()
def indexed_settings(shared_indexes: Callable[[str], Settings], backend: str) -> Iterator[Settings]:
    """Settings of the shared index of the default article, for tests that only read it: a test that
    writes to it fails here (use ``settings`` and an index of the test's own instead)."""
    from rag.factory import build_store

    settings = shared_indexes(backend)
    version = build_store(settings).version()
    yield settings
    assert build_store(settings).version() == version, (
        "this test wrote to the shared index: give it an index of its own"
    )


@pytest.fixture()
def indexed_store(indexed_settings: Settings) -> Store:
    from rag.factory import build_store

    return build_store(indexed_settings)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``rag serve`` with the bundled local LLM, shared by the API, load and browser tests.

    The answer cache is off here so that every question really streams and queues (the cache has its
    own tests in test_service.py, and ``make bench`` loads a server with it on)."""
    env = {"RAG_LLM": "local", "RAG_MAX_QUEUE": "4", "RAG_EXAMPLES": "1", "RAG_ANSWER_CACHE": "0"}
    with serve(tmp_path_factory.mktemp("llm-server"), {**env, "RAG_EVALS_DIR": str(ROOT / "evals")}) as server:
        yield server
