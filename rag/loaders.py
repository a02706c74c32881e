"""Turn a file into plain text (with where each page starts), or say in one line why it cannot be read."""

from __future__ import annotations

import csv
import io
import logging
import os
import posixpath
import re
import shutil
import subprocess
import threading
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import zip_longest
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.etree import ElementTree

from charset_normalizer import from_bytes

from rag.errors import RagError

log = logging.getLogger(__name__)

TEXT_TYPES = {".txt", ".md", ".markdown", ".html", ".htm"}
SUPPORTED = TEXT_TYPES | {".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".epub"}
# Bumped when what the loaders of the other types extract changes: the next ingest reads those files again
# (passages whose text did not change keep their ids and embeddings, only their metadata is rewritten).
# Plain text types have none, so their files are not re-read.
LOADER_VERSION = "pages1"

# Scanned pages are rendered at this resolution for OCR: 150 dpi read a 9-point scan as well as 300 here,
# in two thirds of the time.
OCR_DPI = 150
OCR_TIMEOUT_S = 120
# A page with less text than this and an image is taken for a scan (a stamped page number is not a text layer).
_SCAN_TEXT_CHARS = 20
# Office files that are not zip archives but OLE compound files: encrypted OOXML or the old binary formats.
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# PDFium is not thread-safe, even across documents, and the server reads PDFs (uploads) and renders pages
# (the source viewer) on several threads: every PDFium call of the process holds this lock.
PDFIUM_LOCK = threading.Lock()

# Called after each page of a paged document (pages done, pages); it may raise to stop the reading.
PageProgress = Callable[[int, int], None]


class Unreadable(RagError):
    """The file is skipped; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Page:
    """Where a page (a PDF page, a slide) starts in the document's text."""

    number: int  # 1-based, as people count pages
    start: int  # offset of the page's first character in ``Document.text``
    ocr: bool = False  # the page's text was read by OCR from its image


@dataclass
class Document:
    text: str
    pages: list[Page] = field(default_factory=list)  # empty for documents without pages
    by_page: bool = False  # chunked page by page (slides), else passages may run over a page break


def format_version(path: Path) -> str:
    """The loader version a file of this type was read with ("" for plain text types)."""
    return "" if path.suffix.lower() in TEXT_TYPES else LOADER_VERSION


def load_text(path: Path, data: bytes) -> str:
    """Text of a document. Raises ``Unreadable`` with a short reason for anything it cannot use."""
    return load_document(path, data).text


def load_document(path: Path, data: bytes, progress: PageProgress | None = None) -> Document:
    """Text of a document and its pages. Raises ``Unreadable`` with a short reason for anything it cannot use."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"unsupported file type '{suffix or path.name}'")
    if not data.strip():
        raise Unreadable("empty file")
    if suffix == ".pdf":
        doc = _pdf(data, progress)
    elif suffix == ".pptx":
        doc = _office(".pptx", data, lambda: _pptx(data, progress))
        doc.by_page = True
    elif suffix == ".docx":
        doc = Document(_normalise(_office(".docx", data, lambda: _docx(data))))
    elif suffix == ".xlsx":
        doc = Document(_normalise(_office(".xlsx", data, lambda: _xlsx(data))))
    elif suffix == ".epub":
        doc = Document(_normalise(_epub(data)))
    else:
        text = _decode(data)
        if suffix in {".html", ".htm"}:
            text = _html_text(text)
        elif suffix == ".csv":
            text = _csv_text(text)
        doc = Document(_normalise(text))
    if not doc.text.strip():
        raise Unreadable("no text in document")
    return doc


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


def _paged(pages: Iterable[tuple[int, str, bool]]) -> Document:
    """One text from (page number, text, read by OCR) triples, pages apart by a blank line.

    Each page is normalised on its own, so the joined text is what normalising the joined pages gave
    before pages were tracked: passages of an index written then keep their ids."""
    parts: list[str] = []
    marks: list[Page] = []
    pos = 0
    for number, raw, ocr in pages:
        body = _normalise(raw)
        if not body:
            continue
        if parts:
            pos += 2  # the blank line between pages
        marks.append(Page(number, pos, ocr))
        parts.append(body)
        pos += len(body)
    return Document("\n\n".join(parts), marks)


# --- PDF: the text layer by pypdf; tables by pdfplumber and scans by tesseract, only on pages that need them ---
def _pdf(data: bytes, progress: PageProgress | None) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))  # an empty user password is tried by pypdf itself
        n = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise Unreadable("encrypted PDF: it needs a password to open") from exc
    except Exception as exc:
        raise _malformed_pdf(exc) from exc
    layout = _PdfLayout(data)
    pages: list[tuple[int, str, bool]] = []
    scans_unread = 0
    try:
        for i in range(n):
            try:
                text = reader.pages[i].extract_text() or ""
            except FileNotDecryptedError as exc:
                raise Unreadable("encrypted PDF: it needs a password to open") from exc
            except Exception as exc:
                raise _malformed_pdf(exc) from exc
            ocr = False
            if len(text.strip()) < _SCAN_TEXT_CHARS and layout.has_image(i):
                scanned = layout.ocr(i)
                if scanned is None:
                    scans_unread += 1
                elif scanned.strip():
                    text, ocr = scanned, True
            elif layout.may_have_table(i):
                rows = layout.table_rows(i)
                if rows:
                    text = f"{text}\n\n{rows}"
            pages.append((i + 1, text, ocr))
            if progress is not None:
                progress(i + 1, n)  # outside the parsers' guards: a cancel raised here is not a bad file
    finally:
        layout.close()
    doc = _paged(pages)
    if not doc.text.strip():
        if scans_unread:
            raise Unreadable("PDF has no text layer and OCR is not available (install tesseract-ocr)")
        raise Unreadable("PDF has no extractable text (blank pages)")
    return doc


def _malformed_pdf(exc: BaseException) -> Unreadable:
    # A hostile PDF can break the parser in any way (deep nesting: RecursionError): that file is
    # unreadable, the others are not.
    return Unreadable(f"malformed PDF ({type(exc).__name__}: {_first_line(exc)})")


class _PdfLayout:
    """What pypdf's text does not tell, opened only when a page needs it: which pages hold images (scans)
    or drawn lines (ruled tables), their tables' rows (pdfplumber) and their OCR text (tesseract)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._pdfium: Any = None
        self._plumber: Any = None

    def _objects(self, i: int) -> tuple[int, int]:
        """(paths, images) drawn on page ``i``: pdfium reads a page's objects in about a millisecond."""
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        paths = images = 0
        with PDFIUM_LOCK:
            if self._pdfium is None:
                self._pdfium = pdfium.PdfDocument(self.data)
            page = self._pdfium[i]
            try:
                for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_IMAGE)):
                    if obj.type == pdfium_c.FPDF_PAGEOBJ_IMAGE:
                        images += 1
                    else:
                        paths += 1
            finally:
                page.close()
        return paths, images

    def has_image(self, i: int) -> bool:
        try:
            return self._objects(i)[1] > 0
        except Exception:  # pdfium could not open what pypdf could: no scan found, the text layer stands
            log.debug("pdfium could not read page %d", i + 1, exc_info=True)
            return False

    def may_have_table(self, i: int) -> bool:
        # A ruled table draws at least its four borders; pages without lines skip pdfplumber's layout pass.
        try:
            return self._objects(i)[0] >= 4
        except Exception:
            return False

    def table_rows(self, i: int) -> str:
        """The page's ruled tables, a row a line with its header ("Year: 2023; Revenue: 4.1 million")."""
        import pdfplumber

        try:
            if self._plumber is None:
                self._plumber = pdfplumber.open(io.BytesIO(self.data))
            tables = self._plumber.pages[i].extract_tables()
        except Exception:  # tables are a bonus on top of the text layer: never lose the page for them
            log.debug("table extraction failed on page %d", i + 1, exc_info=True)
            return ""
        return "\n\n".join(t for t in (table_text(rows) for rows in tables) if t)

    def ocr(self, i: int) -> str | None:
        """The page's text read by tesseract from its rendering, or None when tesseract is not installed."""
        exe = shutil.which("tesseract")
        if exe is None:
            return None
        try:
            self._objects(i)
            png = io.BytesIO()
            with PDFIUM_LOCK:  # the bitmap is PDFium's memory: encoded before the lock is let go
                page = self._pdfium[i]
                try:
                    bitmap = page.render(scale=OCR_DPI / 72, grayscale=True)
                    bitmap.to_pil().save(png, "PNG")
                    bitmap.close()
                finally:
                    page.close()
            # One thread: ingestion runs beside the embedder and the server on few cores.
            env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
            done = subprocess.run(
                [exe, "stdin", "stdout", "-l", "eng", "--dpi", str(OCR_DPI), "--psm", "3"],
                input=png.getvalue(),
                capture_output=True,
                timeout=OCR_TIMEOUT_S,
                env=env,
                check=True,
            )
        except Exception as exc:
            raise Unreadable(f"OCR failed on page {i + 1} ({type(exc).__name__}: {_first_line(exc)})") from exc
        return done.stdout.decode("utf-8", "replace")

    def close(self) -> None:
        if self._plumber is not None:
            self._plumber.close()
        if self._pdfium is not None:
            with PDFIUM_LOCK:
                self._pdfium.close()


# --- tables, office files, CSV, EPUB ---
def table_text(rows: Iterable[Iterable[Any]]) -> str:
    """A table as text: each row on a line, each cell with its column's header ("Year: 2023; Revenue: 4.1")."""
    clean = [[" ".join(_cell(c).split()) for c in row] for row in rows]
    clean = [r for r in clean if any(r)]
    if not clean:
        return ""
    header, body = clean[0], clean[1:]
    if not body:
        return "; ".join(c for c in header if c)
    lines = []
    for row in body:
        cells = [f"{h}: {v}" if h and h != v else v for h, v in zip_longest(header, row, fillvalue="") if v]
        lines.append("; ".join(cells))
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _office(kind: str, data: bytes, read: Callable[[], Any]) -> Any:
    """Run an office reader; a file it cannot read becomes one line saying why."""
    if data[:8] == _OLE_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise Unreadable(f"encrypted {kind} file: it needs a password to open")
        raise Unreadable(f"not a {kind} file: an old binary Office file (save it as {kind})")
    try:
        return read()
    except Unreadable:
        raise
    except zipfile.BadZipFile as exc:
        raise Unreadable(f"malformed {kind} file (not a valid Office file: {_first_line(exc)})") from exc
    except Exception as exc:
        raise Unreadable(f"malformed {kind} file ({type(exc).__name__}: {_first_line(exc)})") from exc


def _docx(data: bytes) -> str:
    """Paragraphs and tables in reading order; headings become Markdown headings, kept as structure."""
    import docx
    from docx.table import Table

    parts = []
    for block in docx.Document(io.BytesIO(data)).iter_inner_content():
        if isinstance(block, Table):
            parts.append(table_text([cell.text for cell in row.cells] for row in block.rows))
            continue
        text = block.text.strip()
        if not text:
            continue
        style = block.style.name if block.style is not None else ""
        level = _heading_level(style)
        if level:
            text = f"{'#' * level} {text}"
        elif style.startswith("List"):
            text = f"- {text}"
        parts.append(text)
    return "\n\n".join(p for p in parts if p)


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    m = re.fullmatch(r"Heading (\d)", style)
    return min(int(m[1]), 6) if m else 0


def _pptx(data: bytes, progress: PageProgress | None) -> Document:
    """A slide is a page: its title as a heading, then its text, tables and speaker notes."""
    from pptx import Presentation

    slides = list(Presentation(io.BytesIO(data)).slides)
    pages = []
    for i, slide in enumerate(slides, start=1):
        title = slide.shapes.title
        parts = [f"# {title.text_frame.text.strip()}"] if title is not None and title.text_frame.text.strip() else []
        others = [s for s in slide.shapes if title is None or s.shape_id != title.shape_id]
        parts += [_shape_text(s) for s in sorted(others, key=_position)]
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Notes: {notes}")
        pages.append((i, "\n\n".join(p for p in parts if p), False))
        if progress is not None:
            progress(i, len(slides))
    return _paged(pages)


def _position(shape: Any) -> tuple[int, int]:
    return (shape.top or 0, shape.left or 0)


def _shape_text(shape: Any) -> str:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        return "\n\n".join(t for t in (_shape_text(s) for s in sorted(shape.shapes, key=_position)) if t)
    if getattr(shape, "has_table", False) and shape.has_table:
        return table_text([cell.text for cell in row.cells] for row in shape.table.rows)
    if shape.has_text_frame:
        return shape.text_frame.text.strip()
    return ""


def _xlsx(data: bytes) -> str:
    """Each sheet under its name as a heading, its rows with the header row's names."""
    from openpyxl import load_workbook

    # Cached values, not formulas: what the reader of the sheet sees.
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        parts = []
        for sheet in book.worksheets:
            rows = table_text(sheet.iter_rows(values_only=True))
            if rows:
                parts.append(f"# {sheet.title}\n\n{rows}")
    finally:
        book.close()
    return "\n\n".join(parts)


def _csv_text(text: str) -> str:
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        return table_text(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise Unreadable(f"malformed CSV ({_first_line(exc)})") from exc


_OPF = "{http://www.idpf.org/2007/opf}"
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"


def _epub(data: bytes) -> str:
    """The book's chapters in reading order (its spine), as text."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            if "META-INF/encryption.xml" in book.namelist() and "META-INF/rights.xml" in book.namelist():
                raise Unreadable("DRM-protected EPUB")
            container = ElementTree.fromstring(book.read("META-INF/container.xml"))
            root = container.find(f".//{_CONTAINER}rootfile")
            opf_path = root.get("full-path", "") if root is not None else ""
            opf = ElementTree.fromstring(book.read(opf_path))
            hrefs = {item.get("id"): item.get("href", "") for item in opf.iter(f"{_OPF}item")}
            base = posixpath.dirname(opf_path)
            chapters = []
            for ref in opf.iter(f"{_OPF}itemref"):
                href = hrefs.get(ref.get("idref"))
                if href:
                    html = book.read(posixpath.normpath(posixpath.join(base, unquote(href))))
                    chapters.append(_html_text(_decode(html)))
    except Unreadable:
        raise
    except Exception as exc:
        raise Unreadable(f"malformed EPUB ({type(exc).__name__}: {_first_line(exc)})") from exc
    return "\n\n".join(chapters)


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
