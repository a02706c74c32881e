"""The bundled embedder (real model): a text given twice is embedded once, and gets the same vector; an
index refuses vectors of another model."""

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.embeddings import Embedder, bundled_model_path, get_embedder, model_id
from rag.errors import IndexMismatch
from rag.factory import build_store, make_client
from rag.schema import Chunk
from rag.store import Store
from tests.test_cli import MAHER, one_line_error, rag


class Counting(Embedder):
    """The real embedder, counting the texts it actually encodes."""

    encoded = 0

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.encoded += len(texts)
        return super()._encode(texts)


def test_a_repeated_text_is_embedded_once_and_every_copy_gets_its_vector() -> None:
    embedder = Counting()
    header = "Annual report of the harbour works, page header."
    texts = [header, "The ferry leaves the pier at seven.", header, "The quarry closed in winter.", header]
    vectors = embedder.embed(texts)
    assert embedder.encoded == 3 and vectors.shape == (5, embedder.dim)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[0], vectors[4])
    alone = embedder.embed(["The quarry closed in winter."])[0]
    assert np.allclose(vectors[3], alone, atol=1e-5) and np.isclose(np.linalg.norm(vectors[1]), 1.0, atol=1e-5)


def test_distinct_texts_are_all_embedded() -> None:
    embedder = Counting()
    assert embedder.embed(["one passage", "another passage"]).shape == (2, embedder.dim)
    assert embedder.encoded == 2 and embedder.embed([]).shape == (0, embedder.dim)


# --- an index knows the model its vectors come from ---
def test_an_index_built_with_another_embedding_model_is_refused_in_one_line(settings: Settings, tmp_path: Path) -> None:
    assert rag(settings, "ingest").returncode == 0
    other = tmp_path / "my-minilm"  # the same model under another name: a model of your own, to the index
    other.symlink_to(bundled_model_path(), target_is_directory=True)
    mine = {"RAG_EMBEDDING_MODEL": str(other)}
    for args in (("ask", MAHER), ("ingest",), ("docs",)):
        error = one_line_error(rag(settings, *args, env=mine))
        assert f"was built with the embedding model {model_id()}, not my-minilm" in error, args
    # nothing was written: the model it was built with still answers from it
    assert "Iraq" in rag(settings, "ask", MAHER).stdout


def test_an_index_made_before_embedders_were_recorded_is_used_and_records_its_own(settings: Settings) -> None:
    old = Store(settings.collection_name, partial(make_client, settings))  # as stores were made before
    old.add(
        [Chunk(id="c1", source="a.txt", text="The harbour opened in 1901.", start=0, end=27)],
        get_embedder(None).embed(["The harbour opened in 1901."]),
    )
    old.bump_version()
    store = build_store(settings)
    assert store.version() == old.version()  # taken as it is
    store.bump_version()  # its next write records the embedder
    mismatched = Store(settings.collection_name, partial(make_client, settings), embedder="another-model")
    with pytest.raises(IndexMismatch, match="built with the embedding model all-MiniLM"):
        mismatched.version()
