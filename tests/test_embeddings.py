"""The bundled embedder (real model): a text given twice is embedded once, and gets the same vector."""

import numpy as np

from rag.embeddings import Embedder


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
