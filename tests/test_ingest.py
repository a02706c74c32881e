"""Ingestion against a real Chroma in a temp folder with the real embedder."""

from pathlib import Path

from rag.config import Settings
from rag.embeddings import Embedder
from rag.ingest import Ingestor
from rag.store import Store
from tests.test_loaders import minimal_pdf

# Every test here runs on the embedded store and on a real Chroma server (RAG_CHROMA_URL).
BACKENDS = ("embedded", "server")


def run(settings: Settings, embedder: Embedder, *paths: Path):  # type: ignore[no-untyped-def]
    return Ingestor(settings, Store(settings), embedder).run(list(paths) or [settings.corpus_dir], progress=False)


def test_second_run_on_unchanged_corpus_adds_nothing(settings: Settings, embedder: Embedder) -> None:
    first = run(settings, embedder)
    assert first.chunks_added > 0 and first.count("added") == 1
    ids_before = {c.id for c in Store(settings).all_chunks()}
    second = run(settings, embedder)
    assert second.chunks_added == 0 and second.chunks_removed == 0
    assert second.count("unchanged") == 1
    assert {c.id for c in Store(settings).all_chunks()} == ids_before


def test_editing_one_file_changes_only_its_chunks(settings: Settings, embedder: Embedder, corpus: Path) -> None:
    (corpus / "other.md").write_text("# Notes\n\nThe library opens at nine. It closes at five.\n")
    run(settings, embedder)
    before = {c.id: c for c in Store(settings).all_chunks()}
    article = corpus / "syria-assad-fall.txt"
    text = article.read_text()
    article.write_text(text.replace("fled to Iraq", "fled to Jordan"))

    report = run(settings, embedder)
    after = {c.id: c for c in Store(settings).all_chunks()}
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
    assert [d.source for d in Store(settings).documents()] == ["syria-assad-fall.txt"]


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
    sources = {d.source for d in Store(settings).documents()}
    assert sources == {"good.pdf", "page.html", "syria-assad-fall.txt"}


def test_an_interrupted_write_is_completed_by_the_next_run(settings: Settings, embedder: Embedder) -> None:
    run(settings, embedder)
    store = Store(settings)
    ids = sorted(c.id for c in store.all_chunks())
    store.delete(ids[:2])  # as if the process died before all chunks of the file were written
    report = run(settings, embedder)
    assert report.chunks_added == 2
    assert sorted(c.id for c in Store(settings).all_chunks()) == ids


def test_files_outside_the_corpus_are_added_without_pruning_it(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    run(settings, embedder)
    extra = tmp_path / "elsewhere.txt"
    extra.write_text("An unrelated note about gardening and tomatoes.")
    report = run(settings, embedder, extra)
    assert report.count("added") == 1 and report.chunks_removed == 0
    assert {d.source for d in Store(settings).documents()} == {"syria-assad-fall.txt", extra.resolve().as_posix()}
