"""Ingestion against a real Chroma in a temp folder with the real embedder."""

import os
from pathlib import Path

from rag.chunking import chunk_text, make_splitter
from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_ingestor, build_store
from tests.pdfs import lone_surrogate_pdf, minimal_pdf, parser_breaking_pdf

# Every test here runs on the embedded store and on a real Chroma server (RAG_CHROMA_URL).
BACKENDS = ("embedded", "server")


def run(settings: Settings, embedder: Embedder, *paths: Path):  # type: ignore[no-untyped-def]
    return build_ingestor(settings).run(list(paths) or [settings.corpus_dir], progress=False)


def test_second_run_on_unchanged_corpus_adds_nothing(settings: Settings, embedder: Embedder) -> None:
    first = run(settings, embedder)
    assert first.chunks_added > 0 and first.count("added") == 1
    ids_before = {c.id for c in build_store(settings).all_chunks()}
    second = run(settings, embedder)
    assert second.chunks_added == 0 and second.chunks_removed == 0
    assert second.count("unchanged") == 1
    assert {c.id for c in build_store(settings).all_chunks()} == ids_before


def test_editing_one_file_changes_only_its_chunks(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "other.md").write_text("# Notes\n\nThe library opens at nine. It closes at five.\n")
    run(settings, embedder)
    before = {c.id: c for c in build_store(settings).all_chunks()}
    article = corpus / "syria-assad-fall.txt"
    text = article.read_text()
    article.write_text(text.replace("fled to Iraq", "fled to Jordan"))

    report = run(settings, embedder)
    after = {c.id: c for c in build_store(settings).all_chunks()}
    assert report.count("updated") == 1 and report.count("unchanged") == 1
    assert 1 <= report.chunks_added <= 2 and report.chunks_added == report.chunks_removed
    other_before = {i for i, c in before.items() if c.source == "other.md"}
    assert other_before == {i for i, c in after.items() if c.source == "other.md"}
    assert any("fled to Jordan" in c.text for c in after.values())
    assert not any("fled to Iraq" in c.text for c in after.values())
    new_text = article.read_text()
    assert all(new_text[c.start : c.end] == c.text for c in after.values() if c.source == article.name)


def test_a_deleted_file_loses_its_chunks(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "gone.txt").write_text("A short document that will be deleted soon.")
    run(settings, embedder)
    (corpus / "gone.txt").unlink()
    report = run(settings, embedder)
    assert report.count("removed") == 1 and report.chunks_removed == 1
    assert [d.source for d in build_store(settings).documents()] == ["syria-assad-fall.txt"]


def test_bad_files_are_skipped_counted_and_harmless(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 10)
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7 garbage")
    (corpus / "good.pdf").write_bytes(minimal_pdf("The river flooded the valley in spring."))
    (corpus / "page.html").write_text("<p>The lighthouse keeper retired in 1990.</p>")
    report = run(settings, embedder)
    status = {f.source: (f.status, f.reason) for f in report.files}
    assert status["empty.txt"] == ("skipped", "empty file")
    assert status["binary.txt"][0] == "skipped" and "binary" in status["binary.txt"][1]
    assert status["broken.pdf"][0] == "skipped" and "PDF" in status["broken.pdf"][1]
    assert status["good.pdf"][0] == status["page.html"][0] == status["syria-assad-fall.txt"][0] == "added"
    assert report.count("skipped") == 3
    sources = {d.source for d in build_store(settings).documents()}
    assert sources == {"good.pdf", "page.html", "syria-assad-fall.txt"}


def test_a_file_over_the_size_limit_is_skipped_with_its_reason(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    (corpus / "huge.txt").write_bytes(b"word " * 220_000)  # 1.05 MiB: over a 1 MB limit by a few bytes
    report = run(settings.model_copy(update={"max_file_mb": 1}), embedder)
    status = {f.source: (f.status, f.reason) for f in report.files}
    assert status == {"huge.txt": ("skipped", "file larger than 1 MB"), "syria-assad-fall.txt": ("added", "")}


def test_an_interrupted_write_is_completed_by_the_next_run(settings: Settings, embedder: Embedder) -> None:
    run(settings, embedder)
    store = build_store(settings)
    ids = sorted(c.id for c in store.all_chunks())
    # As if the process died after the file's pending record and before all its chunks were written.
    store.mark_pending(["syria-assad-fall.txt"])
    store.delete(ids[:2])
    report = run(settings, embedder)
    assert report.chunks_added == 2
    assert sorted(c.id for c in build_store(settings).all_chunks()) == ids


def test_files_outside_the_corpus_are_added_without_pruning_it(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    run(settings, embedder)
    extra = tmp_path / "elsewhere.txt"
    extra.write_text("An unrelated note about gardening and tomatoes.")
    report = run(settings, embedder, extra)
    assert report.count("added") == 1 and report.chunks_removed == 0
    assert {d.source for d in build_store(settings).documents()} == {"syria-assad-fall.txt", extra.resolve().as_posix()}


def test_an_interrupted_update_is_redone(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    """The run died after adding one chunk of a new version and deleting one old chunk, then the edit was
    undone: the chunk count matches the file's, but the pending record still sends it back."""
    run(settings, embedder)
    store = build_store(settings)
    before = sorted(c.id for c in store.all_chunks())
    article = corpus / "syria-assad-fall.txt"
    text = article.read_text()
    edited = chunk_text(
        text.replace("fled to Iraq", "fled to Jordan"),
        article.name,
        make_splitter(settings.chunk_size, settings.chunk_overlap),
    )
    newcomer = next(c for c in edited if c.id not in before)
    store.mark_pending([article.name])
    store.add([newcomer], embedder.embed([newcomer.text]))
    store.delete(before[:1])
    assert len(store.chunk_ids(article.name)) == len(before)

    report = run(settings, embedder)
    assert report.count("updated") == 1 and report.chunks_added == 1 and report.chunks_removed == 1
    assert sorted(c.id for c in build_store(settings).all_chunks()) == before
    assert build_store(settings).file_records()[article.name].complete


def test_a_pending_file_is_redone_without_embedding(settings: Settings, embedder: Embedder) -> None:
    run(settings, embedder)
    store = build_store(settings)
    source = "syria-assad-fall.txt"
    recorded = store.file_records()[source]
    store.mark_pending([source])
    assert not store.file_records()[source].complete
    report = run(settings, embedder)
    assert report.count("updated") == 1 and report.chunks_added == report.chunks_removed == 0
    assert build_store(settings).file_records()[source] == recorded


def test_a_removal_interrupted_after_its_chunks_went_is_finished(settings: Settings, embedder: Embedder) -> None:
    run(settings, embedder)
    store = build_store(settings)
    source = "syria-assad-fall.txt"
    store.mark_pending([source])
    store.delete(sorted(store.chunk_ids(source)))
    assert [d.chunks for d in store.documents()] == [0]
    (settings.corpus_dir / source).unlink()
    report = run(settings, embedder)
    assert report.count("removed") == 1 and build_store(settings).file_records() == {}


def test_an_index_in_the_earlier_layout_is_upgraded_without_embedding(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    """Before file records, each chunk carried its file's fields and its text was a Chroma document."""
    article = corpus / "syria-assad-fall.txt"
    chunks = chunk_text(article.read_text(), article.name, make_splitter(settings.chunk_size, settings.chunk_overlap))
    store = build_store(settings)
    store.collection.upsert(
        ids=[c.id for c in chunks],
        embeddings=embedder.embed([c.text for c in chunks]),
        documents=[c.text for c in chunks],
        metadatas=[
            {"source": c.source, "start": c.start, "end": c.end, "file_hash": "old", "n_chunks": len(chunks)}
            for c in chunks
        ],
    )
    assert [c.text for c in sorted(store.all_chunks(), key=lambda c: c.start)] == [c.text for c in chunks]

    report = run(settings, embedder)
    assert report.count("updated") == 1 and report.chunks_added == report.chunks_removed == 0
    assert build_store(settings).file_records()[article.name].complete
    assert run(settings, embedder).count("unchanged") == 1
    by_id = {c.id: c for c in build_store(settings).all_chunks()}
    assert all(by_id[c.id].text == c.text for c in chunks)


def test_the_longest_allowed_chunks_are_stored_whole(settings: Settings, embedder: Embedder) -> None:
    settings = settings.model_copy(update={"chunk_size": 8000, "chunk_overlap": 0})
    text = " ".join(f"Sentence {i} of a long report about the harbour works." for i in range(600))
    (settings.corpus_dir / "long.txt").write_text(text)
    run(settings, embedder)
    stored = [c for c in build_store(settings).all_chunks() if c.source == "long.txt"]
    assert max(len(c.text) for c in stored) > 7000
    assert all(text[c.start : c.end] == c.text for c in stored)


def test_pdfs_that_break_the_parser_or_the_tokenizer_never_stop_the_run(
    settings: Settings, embedder: Embedder, corpus: Path
) -> None:
    (corpus / "a-nested.pdf").write_bytes(parser_breaking_pdf())  # pypdf: RecursionError
    (corpus / "b-surrogate.pdf").write_bytes(lone_surrogate_pdf())  # text the tokenizer refuses as it is
    report = run(settings, embedder)
    status = {f.source: (f.status, f.reason) for f in report.files}
    assert status["a-nested.pdf"][0] == "skipped" and status["a-nested.pdf"][1].startswith("malformed PDF")
    assert "\n" not in status["a-nested.pdf"][1]
    assert status["b-surrogate.pdf"] == status["syria-assad-fall.txt"] == ("added", "")
    stored = [c.text for c in build_store(settings).all_chunks() if c.source == "b-surrogate.pdf"]
    assert stored == ["The lighthouse of Skagen was lit in 1858. \ufffd"]


def test_a_file_name_that_is_not_utf8_is_indexed_and_pruned(settings: Settings, embedder: Embedder) -> None:
    """A latin-1 file name from another system: its odd byte is spelled out in the source name."""
    odd = os.path.join(os.fsencode(settings.corpus_dir), b"caf\xe9.txt")
    with open(odd, "wb") as f:
        f.write(b"The cafe by the harbour opened at noon.")
    report = run(settings, embedder)
    status = {f.source: f.status for f in report.files}
    assert status == {"caf\\xe9.txt": "added", "syria-assad-fall.txt": "added"}
    assert report.model_dump_json()  # the report (rag ingest --json) can be written
    assert run(settings, embedder).count("unchanged") == 2
    os.remove(odd)
    assert run(settings, embedder).count("removed") == 1
    assert [d.source for d in build_store(settings).documents()] == ["syria-assad-fall.txt"]
