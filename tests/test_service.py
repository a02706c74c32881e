"""The service behind the API and UI: the bounded generation queue, and a model that fails to load."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from rag.config import Settings
from rag.errors import Busy, InvalidQuestion
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
