"""The service behind the API and UI: the bounded generation queue, and a model that fails to load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.cache import AnswerCache
from rag.config import Settings
from rag.errors import Busy, InvalidQuestion
from rag.factory import build_ingestor
from rag.schema import Answer, Turn
from rag.service import AnswerStream, Gate, RagService
from tests.server import serve


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
    stream = AnswerStream(gate.admit(), iter(["token"]))
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
    with serve(tmp_path / "srv", {"RAG_LLM": "local", "RAG_GGUF_PATH": str(broken)}, wait_ready=False) as server:
        deadline = time.monotonic() + 120
        while "cannot load" not in (ready := httpx.get(f"{server.url}/readyz").json())["reason"]:
            assert time.monotonic() < deadline, ready
            time.sleep(0.5)
        assert httpx.get(f"{server.url}/readyz").status_code == 503 and not ready["ready"]
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        ask = httpx.post(f"{server.url}/api/ask", json={"question": "Where did Maher al-Assad flee to?"}, timeout=60)
        assert ask.status_code == 503 and "cannot load the local LLM" in ask.json()["detail"]
        fallback = httpx.post(
            f"{server.url}/api/ask", json={"question": "Where did Maher al-Assad flee to?", "llm": "extractive"},
            timeout=120,
        )  # fmt: skip
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
