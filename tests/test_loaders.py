from pathlib import Path

import pytest

from rag.errors import RagError
from rag.loaders import Unreadable, load_text
from tests.pdfs import minimal_pdf


def test_text_and_markdown_keep_their_content() -> None:
    assert load_text(Path("a.txt"), b"Hello world.\r\nSecond line.") == "Hello world.\nSecond line."
    assert "# Title" in load_text(Path("a.md"), b"# Title\n\nBody text.")


def test_html_drops_scripts_and_tags() -> None:
    html = b"<html><head><script>var x=1;</script><style>p{}</style></head><body><p>Visible text.</p></body></html>"
    text = load_text(Path("page.html"), html)
    assert text == "Visible text."


def test_pdf_text_is_extracted() -> None:
    assert "Maher fled to Iraq" in load_text(Path("doc.pdf"), minimal_pdf("Maher fled to Iraq"))


def test_legacy_encoding_is_detected_not_refused() -> None:
    data = "Le président a quitté la capitale à minuit, déclarent les témoins.".encode("cp1252")
    assert "président" in load_text(Path("fr.txt"), data)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("blank.md", b"  \n\t\n", "empty file"),
        ("binary.txt", b"\x00\x01\x02\xff" * 100, "binary file"),
        ("broken.pdf", b"%PDF-1.4\nthis is not a pdf at all", "PDF"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported file type"),
        ("empty.html", b"<html><script>x()</script></html>", "no text"),
    ],
)
def test_bad_files_raise_a_one_line_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(Unreadable) as info:
        load_text(Path(name), data)
    assert isinstance(info.value, RagError)  # a user error: shown as its one line at the CLI and API edges
    assert reason in str(info.value)
    assert "\n" not in str(info.value)
