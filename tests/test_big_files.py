"""Files far larger than one Chroma write: a 10 MB text, a 300-page PDF, a file of more chunks than Chroma
takes in one call. Real Chroma, the real embedder, the ``rag`` command (in-process) and a real ``rag serve``
for the big uploads."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.factory import build_store
from rag.schema import Chunk
from rag.store import FileRecord
from tests.pdfs import parser_breaking_pdf, pdf, text_page
from tests.server import app_settings, in_process, serve
from tests.test_cli import Run
from tests.test_cli import rag as cli

VOCABULARY = [
    "harbour", "survey", "station", "tide", "wind", "river", "valley", "granite", "cedar", "meadow", "lagoon",
    "observer", "counted", "birds", "noon", "weather", "margin", "page", "report", "works", "engineer", "bridge",
    "council", "budget", "winter", "spring", "summer", "autumn", "ferry", "quarry", "mill", "orchard", "canal",
    "pier", "ledger", "timber", "warehouse", "market",
]  # fmt: skip

# Facts planted deep in the big files: their words appear nowhere else.
TEXT_FACT = "Ingrid Solberg painted the Vardo lighthouse tower blue in 1931."
TEXT_QUESTION = "Who painted the Vardo lighthouse tower blue?"
PDF_FACT = "Captain Osvald Brekke charted the Kirkenes fjord soundings in 1907."
PDF_QUESTION = "Who charted the Kirkenes fjord soundings?"


def paragraphs(total_chars: int, length: int, seed: int) -> list[str]:
    """Prose of about ``total_chars`` characters in paragraphs of about ``length`` characters."""
    rng = random.Random(seed)
    out: list[str] = []
    size = 0
    while size < total_chars:
        sentences: list[str] = []
        while sum(len(s) + 1 for s in sentences) < length:
            words = " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(6, 16)))
            sentences.append(words.capitalize() + ".")
        out.append(" ".join(sentences))
        size += len(out[-1]) + 2
    return out


def plant(parts: list[str], fact: str, at: float) -> list[str]:
    """The fact opens the paragraph at ``at`` (0..1) of the document: deep inside it, at a chunk's start."""
    i = int(len(parts) * at)
    return [*parts[:i], f"{fact} {parts[i]}", *parts[i + 1 :]]


def ten_mb_text() -> bytes:
    """10 MB of prose in paragraphs of about 7,000 characters: at RAG_CHUNK_SIZE=8000 each is one chunk.

    The prose is 512 KB of paragraphs said twenty times over, as a long log or a templated report repeats
    itself: every byte is read, chunked, stored and searched, while a repeated passage is embedded once
    (``Embedder.embed``). Embedding speed on text that never repeats is measured by ``bench``, not here."""
    block = paragraphs(512 * 1024, 7000, seed=1)
    parts = plant(block * 20, TEXT_FACT, 0.9)
    return "\n\n".join(parts).encode()


def three_hundred_page_pdf() -> bytes:
    """300 pages of about 1,800 characters (lines of about 90, a manual's page beside its figures), the
    fact opening page 281: what is big here is the number of pages to read, mark and cite."""
    rng = random.Random(2)
    pages = []
    for number in range(1, 301):
        words = " ".join(rng.choice(VOCABULARY) for _ in range(300))
        lines = [f"Page {number}."] + [words[i : i + 90] for i in range(0, 1800, 90)]
        if number == 281:
            lines = [PDF_FACT, *lines]
        pages.append(text_page(lines))
    return pdf(pages)


def rag(settings: Settings, *args: str, **env: str) -> Run:
    return cli(settings, *args, env=env)  # the rag command in-process (tests/test_cli.py)


def unit_vectors(n: int, dim: int = 384) -> np.ndarray:
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", ["embedded", "server"])  # server: a real `chroma run`
def test_the_store_reads_and_writes_more_records_than_one_chroma_call_takes(settings: Settings) -> None:
    store = build_store(settings)
    n = store.batch + 100  # more than one call may take
    chunks = [Chunk(id=f"c{i:06d}", source="big.txt", text=f"passage {i}", start=i, end=i + 1) for i in range(n)]
    store.add(chunks, unit_vectors(n))
    assert store.count() == n and len(store.chunk_ids("big.txt")) == n

    store.update_spans([c.model_copy(update={"start": c.start + 1, "end": c.end + 1}) for c in chunks])
    ids = [c.id for c in chunks]
    assert [c.start for c in sorted(store.get(ids), key=lambda c: c.id)] == [c.start + 1 for c in chunks]
    assert len(store.embeddings(ids)) == n

    sources = [f"file-{i}.txt" for i in range(n)]
    store.mark_pending(sources)
    store.record_files([FileRecord(s, "hash", "recursive", 1) for s in sources])
    assert len(store.file_records()) == n and all(r.complete for r in store.file_records().values())
    store.forget_files(sources)
    store.delete(ids)
    assert store.count() == 0 and store.file_records() == {}


@pytest.mark.heavy
def test_a_file_of_more_chunks_than_one_chroma_call_takes_is_indexed(settings: Settings) -> None:
    """About 6,000 chunks of 100 characters in one file (20 KB of short paragraphs said twenty times: a
    repeated passage is embedded once), then a small file the run must still reach."""
    corpus = settings.corpus_dir
    parts = plant(paragraphs(20 * 1024, 90, seed=3) * 20, TEXT_FACT, 0.8)
    (corpus / "a-long.txt").write_text("\n\n".join(parts))
    (corpus / "b-nested.pdf").write_bytes(parser_breaking_pdf())
    (corpus / "c-note.txt").write_text("The ferry to the island leaves the pier at seven every morning.")
    env = {"RAG_CHUNK_SIZE": "100", "RAG_CHUNK_OVERLAP": "0"}

    t0 = time.perf_counter()
    first = rag(settings, "ingest", "--json", **env)
    seconds = time.perf_counter() - t0
    assert first.returncode == 0 and "Traceback" not in first.stderr, first.stderr
    report = json.loads(first.stdout)
    status = {f["source"]: f["status"] for f in report["files"]}
    assert status == {
        "a-long.txt": "added", "b-nested.pdf": "skipped", "c-note.txt": "added", "syria-assad-fall.txt": "added"
    }  # fmt: skip
    long = next(f for f in report["files"] if f["source"] == "a-long.txt")
    assert long["chunks_added"] > build_store(settings).client.get_max_batch_size()
    print(f"\n{long['chunks_added']} chunks of one file ingested in {seconds:.1f} s")

    again = rag(settings, "ingest", **env)  # as a person reads it: one line per skipped file, no trace
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    lines = again.stdout.splitlines()
    assert lines[0].startswith("skipped b-nested.pdf: malformed PDF") and len(lines) == 2, again.stdout
    assert "3 unchanged" in lines[1] and "1 skipped" in lines[1]
    answer = json.loads(rag(settings, "ask", TEXT_QUESTION, "--json", **env).stdout)
    assert "Solberg" in answer["answer"] and answer["citations"][0]["source"] == "a-long.txt"


@pytest.mark.heavy
def test_a_10_mb_text_and_a_300_page_pdf_are_indexed_by_the_cli(settings: Settings) -> None:
    corpus = settings.corpus_dir
    (corpus / "big.txt").write_bytes(ten_mb_text())
    (corpus / "manual.pdf").write_bytes(three_hundred_page_pdf())
    env = {"RAG_CHUNK_SIZE": "8000", "RAG_CHUNK_OVERLAP": "0"}

    t0 = time.perf_counter()
    proc = rag(settings, "ingest", "--json", **env)
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    files = {f["source"]: f for f in json.loads(proc.stdout)["files"]}
    assert {s: f["status"] for s, f in files.items()} == {
        "big.txt": "added", "manual.pdf": "added", "syria-assad-fall.txt": "added"
    }  # fmt: skip
    print(f"\n10 MB text ({files['big.txt']['chunks_added']} chunks) and 300-page PDF "
          f"({files['manual.pdf']['chunks_added']} chunks) ingested in {seconds:.1f} s")  # fmt: skip

    for question, fact, source in ((TEXT_QUESTION, "Solberg", "big.txt"), (PDF_QUESTION, "Brekke", "manual.pdf")):
        answer = json.loads(rag(settings, "ask", question, "--json", **env).stdout)
        assert fact in answer["answer"] and answer["citations"][0]["source"] == source, answer


@pytest.mark.heavy
def test_a_10_mb_text_and_a_300_page_pdf_upload_through_the_api(tmp_path: Path) -> None:
    env = {"RAG_LLM": "extractive", "RAG_CHUNK_SIZE": "8000", "RAG_CHUNK_OVERLAP": "0"}
    with serve(tmp_path, env, ui=False) as server, server.client(timeout=1800) as client:
        for name, data, kind in (
            ("big.txt", ten_mb_text(), "text/plain"),
            ("manual.pdf", three_hundred_page_pdf(), "application/pdf"),
        ):
            t0 = time.perf_counter()
            r = client.post("/api/documents", files={"file": (name, data, kind)})
            seconds = time.perf_counter() - t0
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["file"]["status"] == "added" and body["document"]["chunks"] > 50
            chunks = body["document"]["chunks"]
            print(f"\nupload of {name} ({len(data) / 2**20:.1f} MB, {chunks} chunks): {seconds:.1f} s")
        sources = {d["source"] for d in client.get("/api/documents").json()["documents"]}
        assert sources == {"big.txt", "manual.pdf", "syria-assad-fall.txt"}
        for question, fact, source in ((TEXT_QUESTION, "Solberg", "big.txt"), (PDF_QUESTION, "Brekke", "manual.pdf")):
            answer = client.post("/api/ask", json={"question": question}).json()
            assert fact in answer["answer"] and answer["citations"][0]["source"] == source, answer


def test_an_upload_that_breaks_the_pdf_parser_is_refused_in_one_line(tmp_path: Path) -> None:
    with in_process(app_settings(tmp_path)) as client:
        r = client.post("/api/documents", files={"file": ("nested.pdf", parser_breaking_pdf(), "application/pdf")})
        assert r.status_code == 422 and "malformed PDF" in r.json()["detail"], r.text
        assert "\n" not in r.json()["detail"]
        assert [d["source"] for d in client.get("/api/documents").json()["documents"]] == ["syria-assad-fall.txt"]
