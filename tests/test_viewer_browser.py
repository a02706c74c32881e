"""The source viewer and stale marks in the web UI, in a real headless Chromium (Debian's chromium
driven by Playwright) against a real ``rag serve`` (extractive generator: the generator does not matter
here, the citations do)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from rag.store import document_id
from tests.conftest import ui_page
from tests.pdfs import merged, scanned_pdf
from tests.server import ROOT, Server, serve
from tests.test_viewer import FERRY, LIGHTHOUSE, NOTES, report_pdf

# The README's screenshot of the viewer: this test writes it when RAG_SCREENSHOTS=1 (else only to its tmp folder).
SCREENSHOT = ROOT / "docs" / "viewer.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("viewer-ui")
    corpus = folder / "corpus"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(report_pdf())
    (corpus / "notes.md").write_text(NOTES)
    with serve(folder, {"RAG_LLM": "extractive"}) as s:
        yield s


@pytest.fixture()
def page(browser: Browser, server: Server) -> Iterator[Page]:
    with ui_page(browser, server.url, 1400, 1000) as page:
        yield page


def ask(page: Page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()


def test_clicking_a_pdf_citation_opens_its_page_with_the_passage_marked(
    page: Page, server: Server, tmp_path: Path
) -> None:
    with server.client() as client:  # the same view through the API: the UI must draw its boxes
        cite = client.post("/api/ask", json={"question": LIGHTHOUSE}).json()["citations"][0]
        params = {k: cite[k] for k in ("start", "end", "chunk_id")}
        expected = client.get(f"/api/documents/{document_id('report.pdf')}/view", params=params).json()["boxes"]
    assert len(expected) >= 2  # the passage's two lines at least
    ask(page, LIGHTHOUSE)
    card = page.locator("#sources .source").first
    expect(card).to_contain_text("report.pdf, p. 2", timeout=120_000)  # the page label

    page.locator("#chat a[href='#source-1']").click()
    viewer = page.locator("#viewer .viewer")
    expect(viewer).to_contain_text("report.pdf, p. 2", timeout=30_000)
    expect(viewer).to_contain_text("page 2 of 3")
    image = viewer.locator(".page img")
    expect(image).to_be_visible()
    boxes = viewer.locator(".page .box")
    expect(boxes).to_have_count(len(expected))  # a box per line of the cited sentences
    # Each mark lies where the page's text layer puts the passage, in the upper part of the page.
    img = image.bounding_box()
    assert img
    for box, want in zip(boxes.all(), expected, strict=True):
        got = box.bounding_box()
        assert got
        assert abs((got["x"] - img["x"]) / img["width"] - want["left"]) < 0.01
        assert abs((got["y"] - img["y"]) / img["height"] - want["top"]) < 0.01
        assert got["width"] > 50 and 4 < got["height"] < 20
        assert img["y"] < got["y"] < img["y"] + img["height"] / 3

    shot = tmp_path / "viewer.png"
    page.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("RAG_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copy(shot, SCREENSHOT)


def test_clicking_a_text_citation_opens_the_text_around_it(page: Page) -> None:
    ask(page, FERRY)
    expect(page.locator("#sources .source").first).to_contain_text("notes.md", timeout=120_000)
    page.locator("#sources a.open").first.click()  # the [n] of the sources panel opens it too
    viewer = page.locator("#viewer .viewer")
    expect(viewer.locator(".text mark")).to_contain_text("The ferry to Skagen leaves the harbour at nine")
    expect(viewer.locator(".text")).to_contain_text("Timetables change every spring")
    expect(viewer.locator(".page")).to_have_count(0)


def test_an_earlier_answer_opens_its_own_passage(page: Page) -> None:
    ask(page, FERRY)
    expect(page.locator("#sources .source").first).to_contain_text("notes.md", timeout=120_000)
    ask(page, LIGHTHOUSE)
    expect(page.locator("#sources .source").first).to_contain_text("report.pdf", timeout=120_000)
    page.locator("#chat a[href='#source-1']").first.click()  # [1] of the first answer
    expect(page.locator("#viewer .text mark")).to_contain_text("ferry to Skagen", timeout=30_000)
    page.locator("#chat a[href='#source-1']").last.click()
    expect(page.locator("#viewer .page .box").first).to_be_visible(timeout=30_000)
    expect(page.locator("#viewer .text")).to_have_count(0)


def test_a_source_changed_elsewhere_is_marked_stale(page: Page, server: Server) -> None:
    ask(page, FERRY)
    expect(page.locator("#sources .source").first).to_contain_text("notes.md", timeout=120_000)
    expect(page.locator("#sources .source.stale")).to_have_count(0)
    # Another client replaces the document; the open page notices on its own.
    new = NOTES.replace("at nine", "at half past nine")
    with server.client() as client:
        r = client.post("/api/documents", files={"file": ("notes.md", new.encode())})
        assert r.status_code == 200, r.text
    try:
        expect(page.locator("#stale-note")).to_contain_text("answer 1: [1] notes.md", timeout=30_000)
        expect(page.locator("#sources .source.stale")).to_contain_text("changed since this answer")
        page.locator("#chat a[href='#source-1']").click()
        expect(page.locator("#viewer .stale-badge")).to_contain_text("no longer in 'notes.md'", timeout=30_000)
    finally:
        with httpx.Client(base_url=server.url, headers=server.headers) as client:
            client.post("/api/documents", files={"file": ("notes.md", NOTES.encode())})


@pytest.mark.parametrize(
    "request_text",
    ["/etc/passwd", '{"answer": 0, "n": 1}', '{"answer": "../../etc/passwd", "n": 1}', '{"source": "/etc/passwd"}'],
)
def test_the_viewer_handler_opens_only_passages_of_the_conversation(server: Server, request_text: str) -> None:
    """What the page sends the viewer names an answer of its own conversation and a marker, never a file."""
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/ui/gradio_api/call/open_view", json={"data": [request_text]})
        assert r.status_code == 200, r.text
        text = client.get(f"/ui/gradio_api/call/open_view/{r.json()['event_id']}").text
    assert "no longer in this conversation" in text and "root:" not in text


def test_a_long_upload_shows_its_pages_and_can_be_cancelled(page: Page, server: Server, tmp_path: Path) -> None:
    """A scanned PDF is read by OCR, about a second a page: the status follows its pages, and "Cancel
    upload" stops it with the folder and the index as they were."""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(merged(*(scanned_pdf([f"Page {i} of the harbour ledger, scanned."]) for i in range(1, 13))))
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(scan)
    status = page.locator("#upload-status")
    expect(status).to_contain_text("scan.pdf: reading page", timeout=60_000)
    expect(status).to_contain_text("of 12")
    page.locator("#cancel-upload").click()
    expect(status).to_contain_text("scan.pdf: not added: cancelled", timeout=60_000)
    assert not (server.corpus / "scan.pdf").exists()
    with server.client() as client:
        assert "scan.pdf" not in {d["source"] for d in client.get("/api/documents").json()["documents"]}
