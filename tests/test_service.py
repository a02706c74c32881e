"""The service behind the API and UI: the bounded generation and write queues, a model that fails to load,
upload names, and the start-up check of the corpus folder against the index."""

from __future__ import annotations

import threading
import time
import unicodedata
from pathlib import Path

import pytest

from rag.cache import AnswerCache
from rag.chunking import sha256
from rag.config import Settings
from rag.errors import Busy, InvalidQuestion, InvalidUpload
from rag.factory import build_ingestor
from rag.schema import Answer, Turn
from rag.service import AnswerStream, Gate, RagService
from rag.writes import LOCK_NAME, check_filename
from tests.server import ARTICLE, app_settings, in_process


def test_gate_admits_one_running_plus_max_waiting_then_refuses() -> None:
    gate = Gate(max_waiting=2)
    tickets = [gate.admit() for _ in range(3)]
    with pytest.raises(Busy) as busy:
        gate.admit()
    assert busy.value.retry_after >= 1 and "busy" in str(busy.value)
    tickets[0].release()
    tickets[0].release()  # idempotent: a second release must not free a second place
    extra = gate.admit()
    with pytest.raises(Busy):
        gate.admit()
    for t in [*tickets[1:], extra]:
        t.release()
    assert gate.admitted == 0


def test_gate_runs_one_at_a_time_in_admission_order_of_turns() -> None:
    gate = Gate(max_waiting=10)
    running = 0
    peak = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal running, peak
        with gate.admit():
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.05)
            with lock:
                running -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 1 and gate.admitted == 0
    assert 0.0 < gate.seconds_per_turn < 5.0  # learned from the turns, for Retry-After


def test_a_stream_never_iterated_gives_its_place_back() -> None:
    gate = Gate(max_waiting=0)
    stream = AnswerStream(iter(["token"]), gate.admit())
    with pytest.raises(Busy):
        gate.admit()
    stream.close()  # what the API does when a client leaves before the stream starts
    gate.admit().release()


def test_bad_question_is_refused_before_taking_a_place(settings: Settings) -> None:
    service = RagService(settings.model_copy(update={"max_queue": 0}))
    with pytest.raises(InvalidQuestion):
        service.stream("   ")
    assert service.gate.admitted == 0


def test_a_model_that_fails_to_load_is_reported_and_other_generators_still_work(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 1024)  # a header and nothing else
    settings = app_settings(tmp_path / "srv", llm="local", gguf_path=broken)
    build_ingestor(settings).run([settings.corpus_dir], progress=False)  # so that the fallback has an index
    with in_process(settings, wait_ready=False) as client:  # the app rag serve runs, in this process
        deadline = time.monotonic() + 120
        while "cannot load" not in (ready := client.get("/readyz").json())["reason"]:
            assert time.monotonic() < deadline, ready
            time.sleep(0.2)
        assert client.get("/readyz").status_code == 503 and not ready["ready"]
        assert client.get("/healthz").status_code == 200
        ask = client.post("/api/ask", json={"question": "Where did Maher al-Assad flee to?"})
        assert ask.status_code == 503 and "cannot load the local LLM" in ask.json()["detail"]
        fallback = client.post("/api/ask", json={"question": "Where did Maher al-Assad flee to?", "llm": "extractive"})
        assert fallback.status_code == 200 and "Iraq" in fallback.json()["answer"]


def test_repeated_question_is_served_from_the_cache_until_the_index_changes(settings: Settings) -> None:
    build_ingestor(settings).run([settings.corpus_dir], progress=False)
    service = RagService(settings.model_copy(update={"max_queue": 0}))
    question = "Where did Maher al-Assad flee to?"
    first = service.ask(question)
    assert not first.cached and "Iraq" in first.answer and first.citations

    busy = service.gate.admit()  # the only place in the queue is taken: a cache hit must not need one
    again = service.ask(f"  {question} ")
    busy.release()
    assert again.cached and again.answer == first.answer and again.citations == first.citations
    assert not service.ask(question, k=2).cached  # another k is another question
    assert not service.ask(question, history=[Turn(role="user", content="Hello")]).cached

    service.add_document("note.txt", b"Maher al-Assad later moved to Moscow, the capital of Russia.")
    after = service.ask(question)
    assert not after.cached  # the index changed: the stored answer may be stale


def test_answer_cache_keeps_the_most_recent_and_can_be_turned_off() -> None:
    cache = AnswerCache(size=2)
    keys = [AnswerCache.key("v1", "local", 4, f"q{i}", []) for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(key, Answer(answer=f"a{i}"))
    assert cache.get(keys[0]) is None and len(cache) == 2
    hit = cache.get(keys[2])
    assert hit is not None and hit.cached and hit.answer == "a2" and cache.hits == 1
    assert cache.get(AnswerCache.key("v2", "local", 4, "q2", [])) is None  # another index version

    off = AnswerCache(size=0)
    off.put(keys[0], Answer(answer="a0"))
    assert off.get(keys[0]) is None


def test_document_writes_have_a_queue_of_their_own(settings: Settings) -> None:
    service = RagService(settings)
    writes = [service.writes.admit() for _ in range(service.writes.max_waiting + 1)]
    with pytest.raises(Busy) as busy:
        service.writes.admit()
    assert "document writes ahead" in str(busy.value) and busy.value.retry_after >= 1
    service.gate.admit().release()  # questions are not held up by writes, nor the other way round
    for ticket in writes:
        ticket.release()
    assert service.writes.admitted == 0


@pytest.mark.parametrize(
    ("name", "saved"),
    [
        ("  notes.txt ", "notes.txt"),
        (unicodedata.normalize("NFD", "Résumé.md"), "Résumé.md"),
        ("n" * 251 + ".txt", "n" * 251 + ".txt"),
    ],
)
def test_upload_names_are_saved_in_nfc(name: str, saved: str) -> None:
    assert check_filename(name) == saved


@pytest.mark.parametrize(
    "name",
    ["", ".", "..", ".hidden.txt", "a/b.txt", "a\\b.txt", "nul\0.txt", "tab\t.txt", "rlo\u202e.txt",
     "zw\u200d.txt", "bom\ufeff.txt", "private\ue000.txt", "surrogate\udc80.txt", "n" * 252 + ".txt"],
)  # fmt: skip
def test_upload_names_with_paths_controls_or_invisible_characters_are_refused(name: str) -> None:
    with pytest.raises(InvalidUpload):
        check_filename(name)


def test_reconcile_makes_the_index_agree_with_the_corpus_folder(settings: Settings) -> None:
    """What a crash or a change made while the server was stopped leaves: a file on disk but not
    indexed, a file changed since it was indexed, an indexed file gone, a temp file of an upload."""
    corpus = settings.corpus_dir
    (corpus / "gone.txt").write_text("The ferry to the island left at dawn and came back at noon.\n")
    (corpus / "changed.txt").write_text("The lighthouse was painted green in 1911.\n")
    build_ingestor(settings).run([corpus], progress=False)
    (corpus / "gone.txt").unlink()
    (corpus / "changed.txt").write_text("The lighthouse was painted blue in 1931.\n")
    (corpus / "new.txt").write_text("The harbour master was called Ada Quill.\n")
    (corpus / ".rag-upload-0123456789abcdef0123456789abcdef.tmp").write_bytes(b"half an upl")

    service = RagService(settings)
    service.reconciling = True
    service.reconcile()
    assert not service.reconciling
    indexed = {d.source: d.file_hash for d in service.documents()}
    on_disk = {p.name: sha256(p.read_bytes()) for p in corpus.iterdir() if not p.name.startswith(".")}
    assert indexed == on_disk and set(on_disk) == {ARTICLE.name, "changed.txt", "new.txt"}
    assert [p.name for p in corpus.iterdir() if p.name.startswith(".")] == [LOCK_NAME]
    version = service.store.version()
    service.reconcile()  # nothing changed: nothing written, the answer cache stays valid
    assert service.store.version() == version
