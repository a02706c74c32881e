"""PDF ingestion speed: pages with a text layer (some with ruled tables) and scanned pages read by OCR.

Documents are built here from real English prose (the installed packages' docstrings), so the figures
need no download: a report of text pages at about 3,400 characters a page, every tenth page with a ruled
table, and scanned pages (images of 10-point text at 150 dpi, 45 lines) for the OCR.
"""

from __future__ import annotations

import io
import os
import re
import resource
import statistics
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.factory import build_ingestor
from rag.loaders import load_document

ROOT = Path(__file__).resolve().parent.parent
LINES_PER_PAGE = 40
LINE_CHARS = 85


def _lines(passages: list[str]) -> list[str]:
    text = " ".join(" ".join(p.split()) for p in passages)
    # Helvetica in a PDF content stream: Latin-1 only; keep to plain ASCII prose.
    return textwrap.wrap(text.encode("ascii", "ignore").decode(), LINE_CHARS)


def text_report(lines: list[str], pages: int) -> bytes:
    from tests.pdfs import pdf, table_page, text_page

    contents = []
    for n in range(pages):
        body = lines[n * LINES_PER_PAGE : (n + 1) * LINES_PER_PAGE]
        if n % 10 == 9:
            rows = [[str(2015 + i), f"{3.1 + i * 0.4:.1f} million", f"{120 + 7 * i}"] for i in range(8)]
            contents.append(table_page(["Year", "Revenue", "Staff"], rows, f"Table {n // 10 + 1}"))
        else:
            contents.append(text_page(body))
    return pdf(contents)


def scans(lines: list[str], pages: int) -> tuple[bytes, list[str]]:
    from tests.pdfs import merged, scanned_pdf

    per = 45
    chunks = [lines[i * per : (i + 1) * per] for i in range(pages)]
    return merged(*(scanned_pdf(c, size=22, spacing=34) for c in chunks)), [
        w for c in chunks for w in " ".join(c).split()
    ]


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract): unlike the wall clock, not
    stretched by other programs on a shared machine."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def bench_pdf(tmp: Path, text_pages: int = 60, ocr_pages: int = 6, rounds: int = 3) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from pypdf import PdfReader

    from bench.run import docstring_passages

    lines = _lines(docstring_passages(2000))
    report = text_report(lines, text_pages)
    name = Path("report.pdf")

    def median_time(fn: Any) -> float:
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    load = os.getloadavg()[0]
    pypdf_only = median_time(lambda: [p.extract_text() for p in PdfReader(io.BytesIO(report)).pages])
    read = median_time(lambda: load_document(name, report))
    c = _cpu()
    load_document(name, report)
    read_cpu = _cpu() - c
    doc = load_document(name, report)

    # End to end: read, chunk, embed and write into a fresh index (the embedder loaded beforehand).
    corpus = tmp / "corpus"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(report)
    settings = Settings(corpus_dir=corpus, data_dir=tmp / "index", _env_file=None)  # type: ignore[call-arg]
    ingestor = build_ingestor(settings)
    t = time.perf_counter()
    done = ingestor.run([corpus], progress=False)
    ingest_s = time.perf_counter() - t

    scanned, truth = scans(lines[text_pages * LINES_PER_PAGE :], ocr_pages)
    t, c = time.perf_counter(), _cpu()
    ocr_doc = load_document(Path("scan.pdf"), scanned)
    ocr_s, ocr_cpu = time.perf_counter() - t, _cpu() - c
    found = set(_words(ocr_doc.text))
    expected = _words(" ".join(truth))
    return {
        "load_average": round(load, 1),  # 1-minute load when the section started (2 cores: above 2 is contention)
        "text_pages": text_pages,
        "table_pages": text_pages // 10,
        "chars_per_page": round(len(doc.text) / text_pages),
        "read_pages_per_s": round(text_pages / read, 1),
        "read_pages_per_cpu_s": round(text_pages / read_cpu, 1),
        "pypdf_only_pages_per_s": round(text_pages / pypdf_only, 1),
        "ingest_pages_per_s": round(text_pages / ingest_s, 1),
        "ingest_chunks": done.chunks_added,
        "ocr_pages": ocr_pages,
        "ocr_pages_per_s": round(ocr_pages / ocr_s, 2),
        "ocr_seconds_per_page": round(ocr_s / ocr_pages, 2),
        "ocr_cpu_seconds_per_page": round(ocr_cpu / ocr_pages, 2),
        "ocr_word_recall": round(sum(w in found for w in expected) / len(expected), 3),
        "ocr_marked_pages": sum(p.ocr for p in ocr_doc.pages),
    }
