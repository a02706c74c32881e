"""Shared fixtures: a real Chroma in a temp folder and the real bundled embedder, loaded once."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.config import Settings
from rag.embeddings import Embedder, get_embedder
from rag.store import Store
from tests.server import Server, serve

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "syria-assad-fall.txt"


def pytest_configure(config: pytest.Config) -> None:
    # Also to be listed in pyproject.toml; registered here so `-m eval` works either way.
    config.addinivalue_line("markers", "eval: runs an evaluation set end to end (select with -m eval)")


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
def settings(tmp_path: Path, corpus: Path) -> Settings:
    return Settings(
        corpus_dir=corpus,
        data_dir=tmp_path / "index",
        llm="extractive",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture()
def store(settings: Settings) -> Store:
    return Store(settings)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real ``rag serve`` with the bundled local LLM, shared by the API and browser tests."""
    with serve(
        tmp_path_factory.mktemp("llm-server"),
        {"RAG_LLM": "local", "RAG_MAX_QUEUE": "4", "RAG_EXAMPLES": "1", "RAG_EVALS_DIR": str(ROOT / "evals")},
    ) as server:
        yield server
