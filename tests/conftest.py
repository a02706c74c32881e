"""Shared fixtures: a real Chroma in a temp folder and the real bundled embedder, loaded once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from rag.config import Settings
from rag.embeddings import Embedder, get_embedder
from rag.store import Store

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
ARTICLE = CORPUS / "syria-assad-fall.txt"


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
