"""50 concurrent clients for 60 s against /api/ask on a real server with the local LLM: every response
is an answer or a 503 with Retry-After, memory stays flat, and the server serves normally afterwards.
The test server has the answer cache off, so every request that gets in is a real generation."""

from __future__ import annotations

import json

import pytest

from tests.load import hammer
from tests.server import ROOT, Server

pytestmark = pytest.mark.llm


def test_fifty_clients_for_a_minute_get_answers_or_503_and_memory_stays_flat(
    llm_server: Server, record_property: pytest.RecordProperty
) -> None:
    seed = (ROOT / "evals" / "seed.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in seed]
    load = hammer(llm_server, questions, clients=50, seconds=60)
    figures = load.figures()
    record_property("load", figures)
    print("load:", figures)  # the README quotes these (make bench writes the same figures to a file)

    assert not load.bad, load.bad[:5]
    assert set(load.statuses) <= {200, 503} and load.statuses.get(200, 0) >= 5, figures
    assert load.statuses.get(503, 0) > 0, figures  # 50 clients cannot all fit one generator and 4 places
    # Flat memory: after the first generations' one-off buffers, no growth with the number of requests.
    assert load.growth_mb() < 100, figures
    assert max(load.rss_mb) - load.rss_ready_mb < 600, figures
    with llm_server.client() as c:
        assert c.get("/healthz").status_code == 200
        assert c.post("/api/ask", json={"question": questions[0]}).status_code == 200
