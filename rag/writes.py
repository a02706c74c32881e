"""Writes into the corpus folder (uploads, deletes, the start-up check): safe across processes and crashes.

Every process that writes documents into a corpus folder (several API replicas share one by design, see
README "Several API replicas on one Chroma server") takes one lock file in that folder for the whole of
a write: the file's move and its index update. The lock is an ``flock``: the kernel drops it when its
holder dies, so a killed server never leaves it held.

An upload is written to a hidden temp file first (ingestion never reads hidden files), then moved over
the document's name. A process killed in between leaves the temp file behind; ``remove_leftovers``
clears them at the next start, under the lock, when no write of any process can be in progress.
"""

from __future__ import annotations

import fcntl
import os
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import InvalidUpload

LOCK_NAME = ".rag-writes.lock"
# A fixed-length temp name: a long document name (up to the 255-byte limit) must still leave room for it.
_TEMP_PREFIX = ".rag-upload-"
_TEMP_SUFFIX = ".tmp"


@contextmanager
def corpus_lock(corpus: Path) -> Iterator[None]:
    """Hold the folder's write lock (waiting for it): one document write at a time across processes."""
    corpus.mkdir(parents=True, exist_ok=True)
    fd = os.open(corpus / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def temp_path(corpus: Path) -> Path:
    return corpus / f"{_TEMP_PREFIX}{uuid.uuid4().hex}{_TEMP_SUFFIX}"


def write_file(dest: Path, data: bytes) -> None:
    """Replace ``dest`` with ``data`` all at once: readers (and a crash) see the old file or the new one."""
    tmp = temp_path(dest.parent)
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the name points at it
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def remove_leftovers(corpus: Path) -> list[str]:
    """Temp files of uploads a killed process never finished (call with the lock held)."""
    removed = []
    for path in corpus.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


# Unicode categories never allowed in a file name: control characters, format characters (the bidi
# overrides and isolates such as U+202E, zero-width characters, the soft hyphen), line and paragraph
# separators, private use and lone surrogates. A name like "report<U+202E>fdp.txt" shows as
# "reporttxt.pdf" in a browser; an invisible character makes a twin of another document's name.
_REFUSED = {"Cc", "Cf", "Co", "Cs", "Zl", "Zp"}


def check_filename(filename: str) -> str:
    """The name an uploaded file is saved under: a plain, visible file name, never a path.

    Names are normalised to NFC, so "café.txt" typed on one system and on another (decomposed, NFD) are
    one document rather than two files that look the same.
    """
    name = unicodedata.normalize("NFC", filename.strip())
    bad = next((ch for ch in name if unicodedata.category(ch) in _REFUSED), None)
    if bad is not None:
        raise InvalidUpload(
            f"invalid file name {filename!r}: it contains the control or invisible character "
            f"U+{ord(bad):04X} ({unicodedata.name(bad, 'unnamed')})"
        )
    if not name or name in {".", ".."} or name.startswith(".") or any(sep in name for sep in ("/", "\\")):
        raise InvalidUpload(f"invalid file name {filename!r}: give a plain file name, without folders")
    if len(name.encode()) > 255:
        raise InvalidUpload(f"invalid file name: {len(name.encode())} bytes long; the limit is 255 bytes (UTF-8)")
    return name
