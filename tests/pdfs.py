"""Real PDF files built in the tests (no PDF library needed): pages of text, and broken ones."""

from __future__ import annotations


def text_page(lines: list[str]) -> bytes:
    """A page's content stream that writes ``lines`` one under the other."""

    def escape(line: str) -> str:
        return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    return ("BT /F1 7 Tf 8 TL 20 780 Td " + " ".join(f"({escape(line)}) Tj T*" for line in lines) + " ET").encode(
        "latin-1"
    )


def pdf(contents: list[bytes], to_unicode: bytes | None = None) -> bytes:
    """A real PDF, one page per content stream, with one Helvetica font (and its ToUnicode map if given)."""
    n = len(contents)
    font = 3 + 2 * n

    def stream(data: bytes) -> bytes:
        return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)), n),
    ]
    for i, content in enumerate(contents):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font)
        )
        objects.append(stream(content))
    unicode_map = b" /ToUnicode %d 0 R" % (font + 1) if to_unicode else b""
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica%s >>" % unicode_map)
    if to_unicode:
        objects.append(stream(to_unicode))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def parser_breaking_pdf() -> bytes:
    """A PDF whose page nests arrays 20,000 deep: pypdf's content parser recurses until RecursionError."""
    return pdf([b"BT /F1 12 Tf " + b"[" * 20000 + b"]" * 20000 + b" (Hi) Tj ET"])


def lone_surrogate_pdf() -> bytes:
    """A PDF whose ToUnicode map turns 'A' into a lone UTF-16 surrogate (which no tokenizer takes)."""
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def\n"
        b"1 begincodespacerange <00> <FF> endcodespacerange\n1 beginbfchar <41> <D800> endbfchar\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
    )
    return pdf([text_page(["The lighthouse of Skagen was lit in 1858. A"])], to_unicode=cmap)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose content stream draws ``text`` (enough for pypdf's text extraction)."""
    return pdf([text_page([text])])


def table_page(header: list[str], rows: list[list[str]], title: str = "") -> bytes:
    """A page with a ruled table (its grid drawn as lines, each cell's text inside), as reports have."""
    widths = [110, 130, 130, 130][: len(header)]
    xs = [60]
    for w in widths:
        xs.append(xs[-1] + w)
    top, height = 700, 22
    ys = [top - height * i for i in range(len(rows) + 2)]
    ops = ["0.5 w"]
    ops += [f"{xs[0]} {y} m {xs[-1]} {y} l S" for y in ys]
    ops += [f"{x} {ys[0]} m {x} {ys[-1]} l S" for x in xs]
    text = [f"BT /F1 12 Tf 60 740 Td ({title}) Tj ET"] if title else []
    for r, row in enumerate([header, *rows]):
        for c, cell in enumerate(row):
            text.append(f"BT /F1 10 Tf {xs[c] + 6} {ys[r] - 15} Td ({cell}) Tj ET")
    return "\n".join(ops + text).encode("latin-1")


def scanned_pdf(lines: list[str], size: int = 28, spacing: int = 56) -> bytes:
    """A one-page PDF that is only an image of ``lines`` (no text layer), as a scanner makes it; ``size``
    is the font's height in pixels at 150 dpi (28: about 13 points; 22: a 10-point page of 45 lines)."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=size)
    image = Image.new("L", (1240, 1754), 255)  # A4 at 150 dpi
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((110, 140 + spacing * i), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=150)
    return out.getvalue()


def merged(*pdfs: bytes) -> bytes:
    """The pages of several PDFs, in order, in one PDF."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for data in pdfs:
        writer.append(PdfReader(io.BytesIO(data)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted(data: bytes, password: str = "secret") -> bytes:
    """``data`` encrypted with a user password (it cannot be opened without it)."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
