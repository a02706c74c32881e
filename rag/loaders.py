"""Turn a file into plain text, or say in one line why it cannot be read."""

from __future__ import annotations

import io
import re
from pathlib import Path

from charset_normalizer import from_bytes

SUPPORTED = {".txt", ".md", ".markdown", ".pdf", ".html", ".htm"}


class Unreadable(Exception):
    """The file is skipped; the message is the reason shown to the user."""


def load_text(path: Path, data: bytes) -> str:
    """Text of a document. Raises ``Unreadable`` with a short reason for anything it cannot use."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"unsupported file type '{suffix or path.name}'")
    if not data.strip():
        raise Unreadable("empty file")
    if suffix == ".pdf":
        text = _pdf_text(data)
    else:
        text = _decode(data)
        if suffix in {".html", ".htm"}:
            text = _html_text(text)
    text = _normalise(text)
    if not text.strip():
        raise Unreadable("no text in document")
    return text


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # Legacy encodings (cp1252, latin-1...) are common in real corpora: detect rather than refuse.
    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise Unreadable("not UTF-8 and no text encoding could be detected")
    return str(best)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable(f"malformed PDF ({type(exc).__name__}: {_first_line(exc)})".strip()) from exc
    except Exception as exc:
        # A hostile PDF can break the parser in any way (deep nesting: RecursionError): that file is
        # unreadable, the others are not.
        raise Unreadable(f"malformed PDF, the parser failed ({type(exc).__name__}: {_first_line(exc)})") from exc
    text = "\n\n".join(p.strip() for p in pages)
    if not text.strip():
        raise Unreadable("PDF has no extractable text (scanned images?)")
    return text


def _html_text(html: str) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template"]):
        tag.decompose()
    return soup.get_text("\n")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0]


def _normalise(text: str) -> str:
    """Valid Unicode, uniform newlines, no trailing spaces, at most one blank line in a row."""
    # A PDF's ToUnicode map can yield lone surrogates: the tokenizer and Chroma refuse them, so one such
    # character would fail the whole file. It becomes U+FFFD, like any undecodable character (a valid
    # pair split in two code points is joined).
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
