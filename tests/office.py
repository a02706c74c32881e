"""Real office, CSV and EPUB files built in the tests with the libraries that read them (tiny ones)."""

from __future__ import annotations

import io
import zipfile

REVENUE = [
    ["Year", "Revenue", "Profit"],
    ["2022", "3.2 million euros", "0.4 million"],
    ["2023", "4.1 million euros", "0.7 million"],
]


def docx_file() -> bytes:
    """A report with a title, headings, paragraphs and a table."""
    import docx

    document = docx.Document()
    document.add_heading("Annual report of the Skagen Harbour Company", level=0)
    document.add_heading("Operations", level=1)
    document.add_paragraph("The harbour master Jens Berg hired four new pilots in the spring.")
    document.add_heading("Finances", level=2)
    document.add_paragraph("Revenue grew on the strength of the fish auction.")
    table = document.add_table(rows=len(REVENUE), cols=len(REVENUE[0]))
    for r, row in enumerate(REVENUE):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph("The board thanks every employee.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_file() -> bytes:
    """Three slides: a title slide, a slide of bullet points, a slide with a table."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = "Ferry timetable review"
    slide.placeholders[1].text = "Prepared by the island council"
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Findings"
    slide.placeholders[
        1
    ].text = "The morning ferry to Laeso was late on 41 days.\nPassengers asked for a later sailing."
    slide.notes_slide.notes_text_frame.text = "Mention the harbour works."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Tickets"
    rows = [["Ticket", "Price"], ["Adult return", "180 crowns"], ["Child return", "90 crowns"]]
    shape = slide.shapes.add_table(len(rows), 2, Inches(1), Inches(2), Inches(6), Inches(2))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_file() -> bytes:
    """Two sheets: staff numbers and the revenue table (numbers as numbers)."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "Staff"
    for row in (["Department", "Employees"], ["Pilots", 12], ["Crane operators", 7]):
        sheet.append(row)
    sheet = book.create_sheet("Lighthouses")
    for row in (["Lighthouse", "First lit", "Height (m)"], ["Grenen", 1858, 46.5], ["Hirtshals", 1863, 35]):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_file() -> bytes:
    return b"Island;Population;Ferry minutes\nLaeso;1,750;90\nFanoe;3,200;12\nSamsoe;3,700;75\n"


def epub_file() -> bytes:
    """A minimal EPUB 3 book with two chapters."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr(
            "META-INF/container.xml",
            '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
            '<rootfiles><rootfile full-path="OEBPS/book.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        book.writestr(
            "OEBPS/book.opf",
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            "<manifest>"
            '<item id="c1" href="one.xhtml" media-type="application/xhtml+xml"/>'
            '<item id="c2" href="two.xhtml" media-type="application/xhtml+xml"/>'
            '</manifest><spine><itemref idref="c1"/><itemref idref="c2"/></spine></package>',
        )
        book.writestr(
            "OEBPS/one.xhtml", "<html><body><h1>Chapter one</h1><p>The storm broke the pier.</p></body></html>"
        )
        book.writestr(
            "OEBPS/two.xhtml",
            "<html><body><h1>Chapter two</h1><p>The keeper rebuilt the pier in 1911.</p></body></html>",
        )
    return out.getvalue()
