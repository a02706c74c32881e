"""Scanned PDF pages: read by OCR (Debian's tesseract), only where a page has no text layer, and marked."""

from pathlib import Path

import pytest

from rag.loaders import Unreadable, load_document
from tests.pdfs import merged, pdf, scanned_pdf, text_page

SCAN = ["The Grenen bird station ringed 5,214 birds in 2019.", "Most of them were larks and swallows."]


def test_a_scanned_page_is_read_and_marked() -> None:
    doc = load_document(Path("mixed.pdf"), merged(pdf([text_page(["A page with a text layer."])]), scanned_pdf(SCAN)))
    assert [(p.number, p.ocr) for p in doc.pages] == [(1, False), (2, True)]
    scanned = doc.text[doc.pages[1].start :]
    assert "The Grenen bird station ringed 5,214 birds in 2019." in scanned
    assert "larks and swallows" in scanned
    assert doc.text.startswith("A page with a text layer.")  # the text layer is kept as it is, never OCR'd


def test_without_tesseract_a_scan_is_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a machine where tesseract is not installed
    with pytest.raises(Unreadable, match=r"^PDF has no text layer and OCR is not available \(install tesseract-ocr\)$"):
        load_document(Path("scan.pdf"), scanned_pdf(SCAN))
    # A document with a text layer elsewhere keeps that text.
    doc = load_document(Path("mixed.pdf"), merged(pdf([text_page(["A page with a text layer."])]), scanned_pdf(SCAN)))
    assert doc.text == "A page with a text layer." and [p.number for p in doc.pages] == [1]


def test_a_blank_pdf_says_so() -> None:
    with pytest.raises(Unreadable, match="no extractable text"):
        load_document(Path("blank.pdf"), pdf([b"", b""]))
