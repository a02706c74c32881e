"""The source viewer over the HTTP API: a cited passage opened in its document (a PDF's page with the
passage marked, the text around it otherwise), on a real index, embedder and app (extractive generator)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from rag.config import Settings
from rag.factory import build_ingestor, build_store
from rag.service import RagService
from rag.sources import build_view
from rag.store import document_id
from tests.pdfs import pdf
from ui.app import _view_body

KEY = "viewer-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
LIGHTHOUSE = "What colour was the lighthouse of Port Ellery painted?"
FERRY = "When does the ferry to Skagen leave the harbour?"
FILLER = [f"Line {i} of the annual report lists the harbour dues for that quarter." for i in range(40)]
PAGE_TWO = [
    *FILLER[20:26],
    "The lighthouse of Port Ellery was painted green in 1911 by the harbour master,",
    "Ada Quill, who kept the lamp until 1932.",
    *FILLER[26:32],
]
NOTES = (
    "# Ferries\n\nTimetables change every spring; ask at the kiosk.\n\n"
    "The ferry to Skagen leaves the harbour at nine every morning. It returns at six.\n\n"
    "## Museum\n\nThe maritime museum opens on Mondays and keeps the old lens of the lighthouse.\n"
)


def body_page(lines: list[str]) -> bytes:
    """A page's content stream in an 11-point body text, as reports are printed."""
    shown = " ".join(f"({line}) Tj T*" for line in lines)  # the lines hold no parentheses or backslashes
    return f"BT /F1 11 Tf 15 TL 60 730 Td {shown} ET".encode("latin-1")


def report_pdf() -> bytes:
    """Three pages: filler, the lighthouse passage among filler on page 2, an appendix."""
    return pdf([body_page(FILLER[:20]), body_page(PAGE_TWO), body_page(["Appendix: tables of dues."])])


@dataclass
class Site:
    client: TestClient
    settings: Settings
    corpus: Path
    folder: Path

    def ask(self, question: str) -> dict[str, Any]:
        r = self.client.post("/api/ask", json={"question": question}, headers=AUTH)
        assert r.status_code == 200, r.text
        return r.json()

    def view(self, cite: dict[str, Any], **params: Any) -> Any:
        query = {"start": cite["start"], "end": cite["end"], "chunk_id": cite["chunk_id"], **params}
        return self.client.get(f"/api/documents/{document_id(cite['source'])}/view", params=query, headers=AUTH)

    def ingest(self, *paths: Path) -> None:
        build_ingestor(self.settings, build_store(self.settings)).run(list(paths) or [self.corpus], progress=False)


@contextmanager
def open_site(folder: Path, files: dict[str, bytes | str]) -> Iterator[Site]:
    """Index ``files`` into a fresh corpus and serve the app (API key set, no UI) through a TestClient."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True)
    for name, content in files.items():
        path = corpus / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    settings = Settings(
        corpus_dir=corpus,
        data_dir=folder / "index",
        llm="extractive",
        api_key=KEY,
        examples=0,
        _env_file=None,  # type: ignore[call-arg]
    )
    site = Site(None, settings, corpus, folder)  # type: ignore[arg-type]
    site.ingest()
    with TestClient(create_app(settings, ui=False), base_url="http://127.0.0.1") as client:
        site.client = client
        yield site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(tmp_path_factory.mktemp("viewer"), {"report.pdf": report_pdf(), "notes.md": NOTES}) as s:
        yield s


def ink(image: Image.Image, box: dict[str, float]) -> int:
    """Dark pixels inside a box given in fractions of the page."""
    w, h = image.size
    area = image.convert("L").crop(
        (
            int(box["left"] * w),
            int(box["top"] * h),
            int((box["left"] + box["width"]) * w) + 1,
            int((box["top"] + box["height"]) * h) + 1,
        )
    )
    return sum(area.histogram()[:128])


def text_in_boxes(data: bytes, page: int, boxes: list[dict[str, float]]) -> str:
    """What the PDF's own text layer holds inside the boxes: the words the view marks."""
    doc = pdfium.PdfDocument(data)
    try:
        pdf_page = doc[page - 1]
        width, height = pdf_page.get_size()
        textpage = pdf_page.get_textpage()
        return " ".join(
            textpage.get_text_bounded(
                left=b["left"] * width,
                right=(b["left"] + b["width"]) * width,
                top=height - b["top"] * height,
                bottom=height - (b["top"] + b["height"]) * height,
            )
            for b in boxes
        )
    finally:
        doc.close()


def test_a_pdf_citation_opens_its_page_with_the_passage_marked(site: Site) -> None:
    answer = site.ask(LIGHTHOUSE)
    assert not answer["abstained"] and "green" in answer["answer"], answer
    cite = answer["citations"][0]
    assert cite["source"] == "report.pdf"

    r = site.view(cite)
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["kind"] == "page" and view["page"] == 2 and view["pages"] == 3
    assert not view["indexed_copy"] and view["note"] == ""
    assert view["text"][view["highlight"]["start"] : view["highlight"]["end"]] == cite["text"]
    # The boxes hold the cited words on the real page, and nothing but them and their lines.
    marked = text_in_boxes(report_pdf(), 2, view["boxes"])
    assert "lighthouse of Port Ellery was painted green" in marked and "Ada Quill" in marked
    assert all(0 <= b["left"] < 1 and 0 <= b["top"] < 1 and b["width"] > 0 and b["height"] > 0 for b in view["boxes"])

    image = site.client.get(view["image_url"], headers=AUTH)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(image.content))
    assert png.size == (918, 1188)  # 612 x 792 points at 1.5 pixels per point
    assert all(ink(png, b) > 20 for b in view["boxes"])  # the boxes lie on printed text
    blank = {"left": 0.1, "top": 0.6, "width": 0.8, "height": 0.3}  # below the page's last line
    assert ink(png, blank) == 0


def test_another_page_of_the_pdf_can_be_shown(site: Site) -> None:
    cite = site.ask(LIGHTHOUSE)["citations"][0]
    view = site.view(cite, page=3).json()
    assert view["page"] == 3 and view["boxes"] == [] and "not found" in view["note"]
    small = site.client.get(f"{view['image_url']}?scale=0.5", headers=AUTH)
    assert small.status_code == 200 and Image.open(io.BytesIO(small.content)).size == (306, 396)


def test_a_text_citation_opens_the_text_around_it(site: Site) -> None:
    answer = site.ask(FERRY)
    assert not answer["abstained"] and "nine" in answer["answer"], answer
    cite = answer["citations"][0]
    assert cite["source"] == "notes.md"
    view = site.view(cite).json()
    assert view["kind"] == "text" and view["page"] is None and view["boxes"] == []
    h = view["highlight"]
    assert view["text"][h["start"] : h["end"]] == cite["text"]
    assert NOTES[view["offset"] : view["offset"] + len(view["text"])] == view["text"]  # the file's own text
    # The paragraphs around the passage come with it.
    assert "Timetables change every spring" in view["text"] and "maritime museum" in view["text"]


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/documents/0123456789abcdef/view", {"start": 0, "end": 5}, 404, "no document"),
        ("/api/documents/{notes}/view", {"start": 5, "end": 5}, 422, "end must be greater than start"),
        ("/api/documents/{notes}/view", {"start": -1, "end": 5}, 422, "greater than or equal to 0"),
        ("/api/documents/{notes}/view", {"start": 0, "end": 10**6}, 404, "outside 'notes.md'"),
        ("/api/documents/{notes}/view", {"start": "x", "end": 5}, 422, "valid integer"),
        ("/api/documents/{notes}/view", {"start": 0, "end": 5, "chunk_id": "nope"}, 404, "no longer in"),
        ("/api/documents/{report}/view", {"start": 0, "end": 5, "page": 9}, 404, "has 3 pages"),
        ("/api/documents/{report}/view", {"start": 0, "end": 5, "page": 0}, 422, "greater than or equal to 1"),
        ("/api/documents/{report}/pages/9", {}, 404, "has 3 pages"),
        ("/api/documents/{report}/pages/0", {}, 422, "greater than or equal to 1"),
        ("/api/documents/{report}/pages/1", {"scale": 100}, 422, "less than or equal to 4"),
        ("/api/documents/{report}/pages/1", {"scale": 0}, 422, "greater than or equal to 0.1"),
        ("/api/documents/{notes}/pages/1", {}, 404, "not a PDF"),
        ("/api/documents/0123456789abcdef/pages/1", {}, 404, "no document"),
    ],
)
def test_bad_requests_are_4xx_with_a_reason(site: Site, path: str, params: dict, status: int, message: str) -> None:
    url = path.format(notes=document_id("notes.md"), report=document_id("report.pdf"))
    r = site.client.get(url, params=params, headers=AUTH)
    assert r.status_code == status, r.text
    assert message in str(r.json()["detail"])


def test_a_chunk_of_another_document_is_refused(site: Site) -> None:
    cite = site.ask(FERRY)["citations"][0]
    other = site.client.get(
        f"/api/documents/{document_id('report.pdf')}/view",
        params={"start": cite["start"], "end": cite["end"], "chunk_id": cite["chunk_id"]},
        headers=AUTH,
    )
    assert other.status_code == 404 and "no longer in 'report.pdf'" in other.json()["detail"]


def test_the_viewer_routes_need_the_key(site: Site) -> None:
    notes, report = document_id("notes.md"), document_id("report.pdf")
    for method, url, body in [
        ("GET", f"/api/documents/{notes}/view?start=0&end=5", None),
        ("GET", f"/api/documents/{report}/pages/1", None),
        ("POST", "/api/citations/check", {"citations": []}),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            r = site.client.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (url, r.text)
            assert "API key" in r.json()["detail"]


@pytest.mark.parametrize(
    "doc_id",
    ["..", "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "notes.md", "corpus%2Fnotes.md"],
)
def test_a_document_is_named_by_its_id_never_by_a_path(site: Site, doc_id: str) -> None:
    for url in (f"/api/documents/{doc_id}/view?start=0&end=5", f"/api/documents/{doc_id}/pages/1"):
        r = site.client.get(url, headers=AUTH)
        assert r.status_code == 404, (url, r.text)
        assert "root:" not in r.text


def test_files_outside_the_corpus_or_changed_since_are_never_read(tmp_path: Path) -> None:
    """A document indexed from outside the corpus folder (here through a symbolic link) is shown from
    the index, and so is a file changed since it was indexed: what is on disk now is not read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "letters.txt"
    secret.write_text("The keeper wrote that the lamp was lit at dusk on the first of May.\n")
    with open_site(tmp_path / "site", {"notes.md": NOTES}) as site:
        (site.corpus / "letters.txt").symlink_to(secret)
        site.ingest()
        docs = site.client.get("/api/documents", headers=AUTH).json()["documents"]
        linked = next(d for d in docs if d["source"].endswith("letters.txt"))
        assert Path(linked["source"]).is_absolute()  # indexed under the real path, outside the corpus

        secret.write_text("CANARY: this text must never be served.\n" * 3)
        notes = site.corpus / "notes.md"
        notes.write_text(NOTES.replace("nine", "ten") + "CANARY\n")  # changed, not indexed again

        for doc, span in ((linked["id"], (4, 10)), (document_id("notes.md"), (0, 9))):
            r = site.client.get(f"/api/documents/{doc}/view", params={"start": span[0], "end": span[1]}, headers=AUTH)
            assert r.status_code == 200, r.text
            view = r.json()
            assert view["indexed_copy"] and "this is the indexed text" in view["note"]
            assert "CANARY" not in view["text"]
        assert (
            "lamp was lit at dusk"
            in site.client.get(
                f"/api/documents/{linked['id']}/view", params={"start": 4, "end": 10}, headers=AUTH
            ).json()["text"]
        )
        assert "at nine every morning" in view["text"]


def test_a_moved_pdf_is_shown_from_the_index_without_a_page(tmp_path: Path) -> None:
    """A PDF replaced on disk (not indexed again) has no page view: its page would not match the index."""
    with open_site(tmp_path, {"report.pdf": report_pdf()}) as site:
        cite = site.ask(LIGHTHOUSE)["citations"][0]
        shutil.copy(site.corpus / "report.pdf", tmp_path / "copy.pdf")
        (site.corpus / "report.pdf").write_bytes(pdf([body_page(["Something else entirely."])]))
        view = site.view(cite).json()
        assert view["kind"] == "text" and view["indexed_copy"] and view["page"] is None
        assert view["text"][view["highlight"]["start"] : view["highlight"]["end"]] == cite["text"]
        image = site.client.get(f"/api/documents/{document_id('report.pdf')}/pages/1", headers=AUTH)
        assert image.status_code == 404 and "changed since it was indexed" in image.json()["detail"]


def test_a_passage_across_a_page_break_is_marked_on_both_pages(tmp_path: Path) -> None:
    """The cited sentences end a page and start the next: the view marks each part on its own page."""
    # Short pages, so one passage (chunk) holds the end of the first and the start of the second.
    first = [FILLER[0], "The lighthouse of Port Ellery was painted green in 1911 by the harbour master."]
    second = ["Ada Quill kept its lamp until 1932, when the lens went to the museum.", FILLER[5]]
    data = pdf([body_page(first), body_page(second)])
    with open_site(tmp_path, {"straddle.pdf": data}) as site:
        chunk = next(c for c in build_store(site.settings).all_chunks() if "Ada Quill" in c.text)
        assert (chunk.page, chunk.page_end) == (1, 2)
        start = chunk.start + chunk.text.index("The lighthouse")
        end = chunk.start + chunk.text.index("to the museum.") + len("to the museum.")
        cite = {"source": "straddle.pdf", "start": start, "end": end, "chunk_id": chunk.id}

        view = site.view(cite).json()
        assert view["kind"] == "page" and view["pages"] == 2
        assert [view["page"], *(m["page"] for m in view["also"])] == [1, 2]  # the larger part first
        assert "lighthouse of Port Ellery was painted green" in text_in_boxes(data, 1, view["boxes"])
        marked = text_in_boxes(data, 2, view["also"][0]["boxes"])
        assert "Ada Quill kept its lamp until 1932" in marked and "Line 5" not in marked
        image = site.client.get(view["also"][0]["image_url"], headers=AUTH)  # each page's own image
        assert image.status_code == 200 and image.headers["content-type"] == "image/png"
        assert image.content != site.client.get(view["image_url"], headers=AUTH).content

        # A page asked for is that page alone. A line on one page is not marked on the other, where a
        # line of the same words but one ("Line 0 of the annual report ...") stands.
        assert site.view(cite, page=2).json()["also"] == []
        s = chunk.start + chunk.text.index("Line 5")
        view = site.view({**cite, "start": s, "end": s + len(FILLER[5])}).json()
        assert view["page"] == 2 and view["also"] == []

        # The web UI's viewer shows both pages, in order, each with its part boxed.

        service = RagService(site.settings)
        shown = build_view(site.settings, service.store, document_id("straddle.pdf"), start, end, chunk.id)
        body = _view_body(service, shown, "[1] straddle.pdf", stale=False)
        assert "pages 1 and 2 of 2" in body
        assert body.index("alt='page 1'") < body.index("alt='page 2'") and body.count("class='box'") >= 2
