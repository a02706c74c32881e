"""The source viewer and citation freshness: a cited passage shown in its document, and whether the
documents an earlier answer cites have changed since.

A view is built for a document named by its id in the index, never by a path a client gives: the file
read is the one the index records, and only when it lies inside the corpus folder and still has the
content that was indexed (same SHA-256). Otherwise the text is put together from the indexed chunks,
and the view says so. A PDF is shown as its rendered page with the cited sentences marked; every other
document as the text around the passage, with the cited span.
"""

from __future__ import annotations

import io
import logging
import re
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx
from pydantic import BaseModel, Field, StrictInt

from rag.chunking import sha256
from rag.config import Settings
from rag.errors import NotFound, RagError, UnreadableDocument
from rag.ingest import source_path
from rag.loaders import PDFIUM_LOCK, Unreadable, load_text
from rag.schema import Answer, Chunk, Citation, UnicodeText
from rag.store import FileRecord, Store, document_id, unavailable

log = logging.getLogger(__name__)

CONTEXT_CHARS = 1500  # text shown on each side of the cited span
DEFAULT_SCALE = 1.5  # page image pixels per PDF point (108 dpi)
MAX_PIXELS = 3000  # the longer side of a page image at most: a huge MediaBox must not eat the memory
# PDFium is not thread-safe, and the API serves requests on several threads: one render at a time.
_PDFIUM = PDFIUM_LOCK  # the one lock of the process: the PDF loader reads pages on other threads
_WORD = re.compile(r"\w+")
# Read again from the file for a view (cheap, and exact to the character); other types come from the index.
_PLAIN = {".txt", ".md", ".markdown", ".html", ".htm"}


class PassageGone(NotFound):
    """The cited passage or span is not in the document (any more): 404."""


class Span(BaseModel):
    start: int
    end: int


class Box(BaseModel):
    """A rectangle on the page, in fractions of the page's width and height from its top left corner."""

    left: float
    top: float
    width: float
    height: float


class PageMarks(BaseModel):
    page: int = Field(description="1-based.")
    page_width: float = Field(description="Page size in PDF points (1/72 inch).")
    page_height: float
    boxes: list[Box] = Field([], description="Where the cited words are on this page.")


class SourceView(BaseModel):
    document_id: str
    source: str
    kind: Literal["text", "page"] = Field(description="page: a rendered PDF page with boxes; text: text only.")
    start: int = Field(description="The cited span in the document's text (as citations give it).")
    end: int
    chars: int = Field(description="Length of the document's text.")
    text: str = Field(description="The text around the passage.")
    offset: int = Field(description="Where ``text`` starts in the document's text.")
    highlight: Span = Field(description="The cited span within ``text``.")
    indexed_copy: bool = Field(
        False,
        description="The file changed since it was indexed, or is not in the corpus folder: it is not read, "
        "the text comes from the index (and there is no page image).",
    )
    note: str = ""
    page: int | None = Field(None, description="The page shown (1-based).")
    pages: int | None = Field(None, description="Pages in the document.")
    page_width: float | None = Field(None, description="Page size in PDF points (1/72 inch).")
    page_height: float | None = None
    boxes: list[Box] = Field([], description="Where the cited sentences are on the page.")
    also: list[PageMarks] = Field(
        [], description="Other pages the cited sentences run onto (across a page break), with where they are on each."
    )


class CitationRef(BaseModel):
    """A citation as an earlier answer gave it (its other fields are accepted and ignored)."""

    n: StrictInt | None = None  # a number, not true or "1"
    # Valid Unicode only: a lone surrogate (which JSON allows) cannot be encoded to look the file up.
    source: UnicodeText = Field(max_length=4096)
    chunk_id: UnicodeText = Field("", max_length=128)
    file_sha256: UnicodeText = Field("", max_length=128)
    index_version: UnicodeText = Field("", max_length=128)


class CitationCheck(BaseModel):
    n: int | None = None
    source: str
    chunk_id: str
    document_id: str
    stale: bool
    reason: Literal["changed", "removed"] | None = Field(
        None, description="changed: the file was re-indexed with other content; removed: it is no longer indexed."
    )


# --- file records and the file as indexed ---
def _records(store: Store, sources: list[str]) -> dict[str, FileRecord]:
    """The index's records of these files (one read by id, whatever the number of files indexed)."""
    ids = sorted({document_id(s) for s in sources})
    if not ids or not store.exists():
        return {}
    try:
        res = store.files.get(ids=ids, include=["metadatas"])
    except httpx.TransportError as exc:
        raise unavailable(store.url or "", exc) from exc
    return {str(m["source"]): _record(m) for m in res["metadatas"] or []}


def _record(meta: Any) -> FileRecord:
    return FileRecord(
        source=str(meta["source"]),
        file_hash=str(meta.get("file_hash", "")),
        chunker=str(meta.get("chunker", "")),
        n_chunks=int(meta.get("n_chunks", 0)),
    )


def find_document(store: Store, doc_id: str) -> FileRecord:
    if store.exists():
        try:
            res = store.files.get(ids=[doc_id], include=["metadatas"])
        except httpx.TransportError as exc:
            raise unavailable(store.url or "", exc) from exc
        if res["metadatas"]:
            return _record(res["metadatas"][0])
    raise NotFound(f"no document with id '{doc_id}'")


def indexed_file(settings: Settings, record: FileRecord) -> tuple[Path, bytes] | None:
    """The document's file and bytes, when it lies inside the corpus folder and holds what was indexed.

    The path comes from the index, never from a request; it is resolved (symbolic links followed)
    before the check, so no name or link leads outside the folder.
    """
    corpus = settings.corpus_dir.resolve()
    path = source_path(record.source, settings.corpus_dir)
    if not path.is_relative_to(corpus) or path == corpus:
        return None
    try:
        if not path.is_file() or path.stat().st_size > settings.max_file_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return (path, data) if record.complete and sha256(data) == record.file_hash else None


def _assemble(chunks: list[Chunk]) -> str:
    """A document's text put together from its chunks (the gaps between chunks were whitespace)."""
    if not chunks:
        return ""
    text = [" "] * max(c.end for c in chunks)
    for c in chunks:
        text[c.start : c.end] = c.text
    return "".join(text)


def _pages_of(chunk: Chunk) -> tuple[int, int] | None:
    first = getattr(chunk, "page", None)  # set by the loaders of paged documents
    return (first, getattr(chunk, "page_end", None) or first) if first else None


# --- the view ---
def build_view(
    settings: Settings,
    store: Store,
    doc_id: str,
    start: int,
    end: int,
    chunk_id: str | None = None,
    page: int | None = None,
) -> SourceView:
    """The document at the span [start, end) of its text: the page it is on for a PDF, else the text
    around it. ``chunk_id`` (the citation's) is checked to be still in the index; ``page`` picks the page
    of a PDF (by default the one the passage is found on)."""
    if start < 0 or end <= start:
        raise PassageGone(f"the span {start}-{end} is empty")
    record = find_document(store, doc_id)
    passage_pages: tuple[int, int] | None = None
    if chunk_id:
        found = [c for c in store.get([chunk_id]) if c.source == record.source]
        if not found:
            raise PassageGone(f"the cited passage is no longer in '{record.source}': the document changed since")
        chunk = found[0]
        if not chunk.start <= start < end <= chunk.end:  # the passage moved in its file: show all of it
            start, end = chunk.start, chunk.end
        passage_pages = _pages_of(chunk)
    file = indexed_file(settings, record)
    text = ""
    if file is not None and file[0].suffix.lower() in _PLAIN:
        try:
            text = load_text(*file)  # cheap and exact for plain text, Markdown and HTML
        except Unreadable:
            file = None
    if not text:
        # PDFs and office files are not parsed again (a scanned page would be read by OCR again): the
        # index holds their text, and the pages of its passages.
        chunks = store.get(sorted(store.chunk_ids(record.source)))
        text = _assemble(chunks)
        if passage_pages is None:
            passage_pages = next((p for c in chunks if c.start <= start < c.end and (p := _pages_of(c))), None)
    note = ""
    if file is None:
        note = "The file changed since it was indexed, or is not in the corpus folder: this is the indexed text."
    if end > len(text):
        raise PassageGone(f"the span {start}-{end} is outside '{record.source}' ({len(text)} characters)")
    lo, hi = _window(text, start, end)
    view = SourceView(
        document_id=doc_id,
        source=record.source,
        kind="text",
        start=start,
        end=end,
        chars=len(text),
        text=text[lo:hi],
        offset=lo,
        highlight=Span(start=start - lo, end=end - lo),
        indexed_copy=file is None,
        note=note,
    )
    if file is not None and file[0].suffix.lower() == ".pdf":
        _page_view(view, file[1], text[start:end], page, passage_pages)
    return view


def _window(text: str, start: int, end: int) -> tuple[int, int]:
    """CONTEXT_CHARS on each side of the span, cut at a paragraph or line break, else a space."""
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    if lo > 0:
        for sep in ("\n\n", "\n", " "):
            cut = text.find(sep, lo, start)
            if cut != -1:
                lo = cut + len(sep)
                break
    if hi < len(text):
        for sep in ("\n\n", "\n", " "):
            cut = text.rfind(sep, end, hi)
            if cut != -1:
                hi = cut
                break
    return lo, hi


def _page_view(
    view: SourceView, data: bytes, passage: str, page: int | None, passage_pages: tuple[int, int] | None
) -> None:
    """Make ``view`` a page view: the page asked for, else the one of the passage's pages (all pages when
    the index does not know them) that holds most of its words, with the boxes of those words, and the
    other pages it runs onto in ``also``."""
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            view.note = f"The PDF cannot be rendered ({exc}); this is its text."
            return
        try:
            pages = len(pdf)
            if page is not None and not 1 <= page <= pages:
                raise PassageGone(f"'{view.source}' has {pages} pages, no page {page}")
            found: dict[int, Hit] = {}
            known = not page and passage_pages is not None and passage_pages[1] <= pages
            if page:
                candidates = [page]
            elif known and passage_pages:
                candidates = list(range(passage_pages[0], passage_pages[1] + 1))
            else:
                candidates = list(range(1, pages + 1))
            for number in candidates:
                textpage = pdf[number - 1].get_textpage()
                hit = locate(textpage.get_text_range(), passage)
                if hit:
                    found[number] = hit
            # The page that holds most of the passage's words, else the page asked for, else the first;
            # the passage's other pages (as the index knows them) that hold another part of it are marked
            # too: a part, not the same words again (a line repeated on every page).
            best = max(found, key=lambda n: found[n].words, default=candidates[0])
            shown = _marks(pdf, best, found.get(best))
            also: list[PageMarks] = []
            if known and best in found:
                main = found[best]
                parts = [n for n in sorted(found) if found[n].last < main.first or found[n].first > main.last]
                also = [_marks(pdf, n, found[n]) for n in parts]
            if best not in found:
                view.note = "The passage was not found in the page's text layer (a scanned page?): it is not marked."
        finally:
            pdf.close()
    view.kind, view.page, view.pages = "page", best, pages
    view.page_width, view.page_height, view.boxes, view.also = shown.page_width, shown.page_height, shown.boxes, also


def _marks(pdf: Any, number: int, hit: Hit | None) -> PageMarks:
    """Page ``number``'s size and the boxes of the characters ``hit`` spans on it (none without a hit)."""
    pdf_page = pdf[number - 1]
    left, bottom, right, top = pdf_page.get_cropbox()
    width, height = right - left, top - bottom
    boxes: list[Box] = []
    if hit:
        textpage = pdf_page.get_textpage()
        for i in range(textpage.count_rects(hit.start, hit.end - hit.start)):
            x0, y0, x1, y1 = textpage.get_rect(i)
            boxes.append(
                Box(
                    left=(x0 - left) / width,
                    top=(top - y1) / height,
                    width=(x1 - x0) / width,
                    height=(y1 - y0) / height,
                )
            )
    return PageMarks(page=number, page_width=round(width, 2), page_height=round(height, 2), boxes=boxes)


class Hit(NamedTuple):
    """Where a passage is on a page: characters [start, end) of the page's text, the passage's words
    matched, and the first and last of them (indexes into the passage's words)."""

    start: int
    end: int
    words: int
    first: int
    last: int


def locate(page_text: str, passage: str) -> Hit | None:
    """Where ``passage`` is in ``page_text``, or None.

    Matched by words, since a page's text layer and the text the loader extracted differ in spacing,
    line breaks, hyphenation and ligatures. Runs of three or more words in order anchor the match; a
    common word matched elsewhere on the page ("the") does not stretch it.
    """
    page_words = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(page_text)]
    cited = [m.group().lower() for m in _WORD.finditer(passage)]
    if not page_words or not cited:
        return None
    matcher = SequenceMatcher(None, [w for _, _, w in page_words], cited, autojunk=False)
    blocks = [b for b in matcher.get_matching_blocks() if b.size]
    solid = [b for b in blocks if b.size >= min(3, len(cited))]
    if not solid:  # a word or two in common: another text
        return None
    anchor = max(solid, key=lambda b: b.size)
    # Blocks far from the anchor (further than the passage is long) are the same words elsewhere.
    near = [b for b in solid if abs(b.a - anchor.a) <= len(cited) + 2]
    first, last = min(b.a for b in near), max(b.a + b.size for b in near) - 1
    return Hit(
        page_words[first][0],
        page_words[last][1],
        sum(b.size for b in near),
        min(b.b for b in near),
        max(b.b + b.size for b in near) - 1,
    )


def render_page(settings: Settings, store: Store, doc_id: str, page: int, scale: float = DEFAULT_SCALE) -> bytes:
    """A page of an indexed PDF as a PNG image."""
    record = find_document(store, doc_id)
    if Path(record.source).suffix.lower() != ".pdf":
        raise NotFound(f"'{record.source}' is not a PDF: it has no page images")
    file = indexed_file(settings, record)
    if file is None:
        raise NotFound(f"'{record.source}' changed since it was indexed, or is not in the corpus folder")
    import pypdfium2 as pdfium

    with _PDFIUM:
        try:
            pdf = pdfium.PdfDocument(file[1])
        except pdfium.PdfiumError as exc:
            raise UnreadableDocument(f"'{record.source}' cannot be rendered: {exc}") from exc
        try:
            if not 1 <= page <= len(pdf):
                raise PassageGone(f"'{record.source}' has {len(pdf)} pages, no page {page}")
            pdf_page = pdf[page - 1]
            scale = min(scale, MAX_PIXELS / max(pdf_page.get_size()))
            image = pdf_page.render(scale=scale).to_pil()
        finally:
            pdf.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- citations that notice change ---
def stamp(answer: Answer, store: Store) -> Answer:
    """Record in each citation of ``answer`` (and each nearest passage) the hash of its file and the
    index version, so that ``check`` can tell later whether they still hold."""
    citations = [*answer.citations, *answer.nearest]
    if not citations:
        return answer
    try:
        version = store.version()
        records = _records(store, [c.source for c in citations])
    except RagError as exc:  # an answer without stamps is still an answer
        log.warning("citations not stamped: %s", exc)
        return answer
    for c in citations:
        record = records.get(c.source)
        c.file_sha256 = record.file_hash if record else ""
        c.index_version = version
    return answer


def edited_since_indexed(settings: Settings, answer: Answer) -> list[str]:
    """The files an answer cites (or shows as nearest) that no longer hold, on disk, what was indexed:
    edited or removed since the last ingest, so the answer may not say what they say now. Read from the
    corpus folder, hashed, compared with the stamp (``stamp``) of each citation."""
    indexed = {c.source: c.file_sha256 for c in [*answer.citations, *answer.nearest] if c.file_sha256}
    edited = []
    for source, file_hash in indexed.items():
        try:
            data = source_path(source, settings.corpus_dir).read_bytes()
        except OSError:
            data = None
        if data is None or sha256(data) != file_hash:
            edited.append(source)
    return edited


def check(store: Store, citations: list[CitationRef] | list[Citation]) -> tuple[str, list[CitationCheck]]:
    """The index version now, and per citation whether its file changed or went since it was made.

    A citation made from the current index version holds as it is (nothing is read). Otherwise its
    file's record is compared: gone (``removed``) or with another hash (``changed``, which a file
    being re-indexed right now also reads as). A citation without a recorded hash (made before
    answers carried one) holds while its passage is still in the index.
    """
    version = store.version() if store.exists() else ""
    todo = [c for c in citations if not (c.index_version and c.index_version == version)]
    records = _records(store, [c.source for c in todo]) if todo else {}
    unhashed = [c.chunk_id for c in todo if not c.file_sha256 and c.chunk_id]
    present = {c.id for c in store.get(unhashed)} if unhashed and store.exists() else set()
    results = []
    for c in citations:
        reason: Literal["changed", "removed"] | None = None
        if not (c.index_version and c.index_version == version):
            record = records.get(c.source)
            if record is None:
                reason = "removed"
            elif (c.file_sha256 and record.file_hash != c.file_sha256) or (
                not c.file_sha256 and c.chunk_id not in present
            ):
                reason = "changed"
        results.append(
            CitationCheck(
                n=c.n,
                source=c.source,
                chunk_id=c.chunk_id,
                document_id=document_id(c.source),
                stale=reason is not None,
                reason=reason,
            )
        )
    return version, results
