"""Documents as people have them: Word, PowerPoint, Excel, CSV, EPUB and PDF tables, read, answered and
cited over the real API; bad and encrypted files skipped with a one-line reason."""

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from msoffcrypto.format.ooxml import OOXMLFile

from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_ingestor, build_store
from rag.loaders import Unreadable, load_document
from tests import office
from tests.pdfs import encrypted, merged, pdf, scanned_pdf, table_page, text_page
from tests.server import Server, serve

FILLER = [f"Line {i} of the traffic report describes the northern harbours and their quays." for i in range(8)]


def traffic_pdf() -> bytes:
    """A report whose second page holds a ruled table."""
    table = table_page(
        ["Year", "Passengers", "Ferries"], [["2022", "388,000", "14"], ["2023", "412,000", "16"]], "Passenger traffic"
    )
    return pdf([text_page(["Harbour traffic report for the northern ports.", *FILLER]), table])


def birds_pdf() -> bytes:
    """A text page, then a scanned page (an image of text, no text layer)."""
    scan = scanned_pdf(["The Grenen bird station ringed 5,214 birds in 2019.", "Most of them were larks."])
    return merged(pdf([text_page(["Notes of the Grenen bird station.", *FILLER])]), scan)


def encrypted_docx() -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(office.docx_file())).encrypt("secret", out)
    return out.getvalue()


def test_docx_keeps_headings_and_table_rows() -> None:
    text = load_document(Path("report.docx"), office.docx_file()).text
    assert text.startswith("# Annual report of the Skagen Harbour Company\n\n# Operations\n\n")
    assert "\n\n## Finances\n\n" in text
    assert "Year: 2023; Revenue: 4.1 million euros; Profit: 0.7 million" in text.splitlines()
    # Reading order: the table sits between the paragraphs around it.
    assert text.index("fish auction") < text.index("Year: 2022") < text.index("The board thanks")


def test_a_slide_is_a_page() -> None:
    doc = load_document(Path("deck.pptx"), office.pptx_file())
    assert [p.number for p in doc.pages] == [1, 2, 3] and doc.by_page
    slide = {p.number: doc.text[p.start :].split("\n\n# ")[0] for p in doc.pages}
    assert slide[1].startswith("# Ferry timetable review") and "island council" in slide[1]
    assert "late on 41 days" in slide[2] and "Notes: Mention the harbour works." in slide[2]
    assert "Ticket: Adult return; Price: 180 crowns" in slide[3]


def test_spreadsheets_and_csv_are_rows_with_their_header() -> None:
    text = load_document(Path("staff.xlsx"), office.xlsx_file()).text
    assert "# Staff\n\nDepartment: Pilots; Employees: 12\nDepartment: Crane operators; Employees: 7" in text
    assert "Lighthouse: Grenen; First lit: 1858; Height (m): 46.5" in text  # numbers as numbers, not 1858.0
    csv = load_document(Path("islands.csv"), office.csv_file()).text
    assert csv.splitlines()[1] == "Island: Fanoe; Population: 3,200; Ferry minutes: 12"


def test_epub_chapters_in_reading_order() -> None:
    text = load_document(Path("book.epub"), office.epub_file()).text
    assert text.index("The storm broke the pier.") < text.index("The keeper rebuilt the pier in 1911.")


def test_a_pdf_restricted_by_an_owner_password_only_is_read() -> None:
    """Many PDFs are "protected" against copying or printing with an empty user password: they open."""
    doc = load_document(Path("restricted.pdf"), encrypted(traffic_pdf(), password=""))
    assert "Year: 2023; Passengers: 412,000; Ferries: 16" in doc.text


def test_a_pdf_table_becomes_rows_with_their_header() -> None:
    doc = load_document(Path("traffic.pdf"), traffic_pdf())
    assert "Year: 2023; Passengers: 412,000; Ferries: 16" in doc.text.splitlines()
    table = doc.text.index("Year: 2023")
    assert max(p.number for p in doc.pages if p.start <= table) == 2


BAD = {
    "truncated.docx": (office.docx_file()[:2000], "malformed .docx file"),
    "locked.docx": (encrypted_docx(), "encrypted .docx file: it needs a password"),
    "broken.xlsx": (b"PK\x03\x04" + b"not a workbook" * 20, "malformed .xlsx file"),
    "broken.pptx": (b"this is no presentation at all", "malformed .pptx file"),
    "broken.epub": (b"PK\x03\x04" + b"no book" * 20, "malformed EPUB"),
    "locked.pdf": (encrypted(traffic_pdf()), "encrypted PDF: it needs a password"),
    "broken.pdf": (b"%PDF-1.7\n1 0 obj << /Type /Catalog", "malformed PDF"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_and_encrypted_files_raise_a_one_line_reason(name: str) -> None:
    data, reason = BAD[name]
    with pytest.raises(Unreadable) as info:
        load_document(Path(name), data)
    assert str(info.value).startswith(reason) and "\n" not in str(info.value)


def test_bad_files_are_skipped_by_ingest_and_the_rest_indexed(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    for name, (data, _) in BAD.items():
        (corpus / name).write_bytes(data)
    (corpus / "report.docx").write_bytes(office.docx_file())
    report = build_ingestor(settings).run([corpus], progress=False)
    status = {f.source: (f.status, f.reason) for f in report.files}
    for name, (_, reason) in BAD.items():
        assert status[name][0] == "skipped" and status[name][1].startswith(reason), status[name]
    assert status["report.docx"] == status["syria-assad-fall.txt"] == ("added", "")
    assert {d.source for d in build_store(settings).documents()} == {"report.docx", "syria-assad-fall.txt"}


# --- every format answered and cited over the API (a real server, the extractive generator) ---
FILES = {
    "report.docx": office.docx_file,
    "deck.pptx": office.pptx_file,
    "staff.xlsx": office.xlsx_file,
    "islands.csv": office.csv_file,
    "book.epub": office.epub_file,
    "traffic.pdf": traffic_pdf,
    "birds.pdf": birds_pdf,
}
# question -> (source, page, words of the cited passage)
QUESTIONS = {
    "What was the revenue in 2023?": ("report.docx", None, "Year: 2023; Revenue: 4.1 million euros"),
    "Who hired four new pilots?": ("report.docx", None, "Jens Berg"),
    "How many days was the morning ferry to Laeso late?": ("deck.pptx", 2, "late on 41 days"),
    "What does an adult return ticket cost?": ("deck.pptx", 3, "Ticket: Adult return; Price: 180 crowns"),
    "When was the Grenen lighthouse first lit?": ("staff.xlsx", None, "Lighthouse: Grenen; First lit: 1858"),
    "What is the population of Fanoe?": ("islands.csv", None, "Island: Fanoe; Population: 3,200"),
    "When did the keeper rebuild the pier?": ("book.epub", None, "rebuilt the pier in 1911"),
    "How many passengers were carried in 2023?": ("traffic.pdf", 2, "Year: 2023; Passengers: 412,000"),
    "How many birds did the Grenen bird station ring?": ("birds.pdf", 2, "ringed 5,214 birds"),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("formats"), {"RAG_LLM": "extractive"}, ui=False) as server:
        yield server


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        for name, build in FILES.items():
            r = client.post("/api/documents", files={"file": (name, build(), "application/octet-stream")})
            assert r.status_code == 201, r.text
        yield client


@pytest.mark.parametrize("question", sorted(QUESTIONS))
def test_every_format_is_answered_and_cited_over_the_api(client: httpx.Client, question: str) -> None:
    source, page, words = QUESTIONS[question]
    answer = client.post("/api/ask", json={"question": question}).json()
    assert not answer["abstained"], answer
    cited = answer["citations"][0]
    assert (cited["source"], cited["page"]) == (source, page) and words in cited["text"]
    assert cited["ocr"] is (source == "birds.pdf")


def test_pages_in_the_stream_and_the_openai_footer(client: httpx.Client) -> None:
    question = "What does an adult return ticket cost?"
    body = {"model": "rag", "messages": [{"role": "user", "content": question}]}
    completion = client.post("/v1/chat/completions", json=body).json()
    assert "\n\nSources:\n[1] deck.pptx, p. 3: " in completion["choices"][0]["message"]["content"]
    assert completion["citations"][0]["page"] == 3
    birds = [{"role": "user", "content": "How many birds did the Grenen bird station ring?"}]
    scanned = client.post("/v1/chat/completions", json={**body, "messages": birds}).json()
    assert "[1] birds.pdf, p. 2 (OCR): " in scanned["choices"][0]["message"]["content"]
    with client.stream("POST", "/api/ask/stream", json={"question": question}) as r:
        lines = list(r.iter_lines())
    answer = lines[lines.index("event: answer") + 1].removeprefix("data: ")
    assert '"page":3' in answer.replace(" ", "")


def test_bad_uploads_say_why(client: httpx.Client) -> None:
    for name in ("locked.docx", "locked.pdf", "truncated.docx"):
        data, reason = BAD[name]
        r = client.post("/api/documents", files={"file": (name, data, "application/octet-stream")})
        assert r.status_code == 422 and reason in r.json()["detail"], r.text
