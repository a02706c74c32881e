"""The HTTP API's contracts and error cases (extractive generator, API key set), in-process through
Starlette's TestClient on the app ``rag serve`` runs: real Chroma (embedded, then a real Chroma server),
the real embedder. Auth, bad input, documents, evaluation jobs.

Answers with the local LLM are tested over a real server in test_api_llm.py; what needs a real socket or
process (streamed bodies, Host and Origin checks, crashes, load) in test_security.py, test_faults.py,
test_uploads_hardening.py and test_store_outage.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.writes import LOCK_NAME
from tests.server import ARTICLE, ROOT, anonymous, app_settings, in_process

EVALS = ROOT / "evals"

KEY = "test-key-123"
MAHER = "Where did Maher al-Assad flee to?"


@pytest.fixture(scope="module", params=["embedded", "server"])
def client(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """Every test here runs against the app on the embedded store, then on a real Chroma server."""
    chroma = {}
    if request.param == "server":
        chroma = {"chroma_url": request.getfixturevalue("chroma_server"), "collection": "api-tests"}
    settings = app_settings(tmp_path_factory.mktemp("api"), api_key=KEY, max_file_mb=0.05, evals_dir=EVALS, **chroma)
    with in_process(settings) as c:
        yield c


@pytest.fixture()
def app_corpus(client: TestClient) -> Path:
    return client.app.state.service.settings.corpus_dir  # type: ignore[attr-defined]


def test_key_required_everywhere_but_healthz(client: TestClient) -> None:
    nobody = anonymous(client)
    assert nobody.get("/healthz").json() == {"status": "ok"}
    for method, path in [("GET", "/api/documents"), ("POST", "/api/ask"), ("GET", "/readyz"), ("GET", "/docs"),
                         ("GET", "/openapi.json")]:  # fmt: skip
        r = nobody.request(method, path, json={"question": MAHER})
        assert r.status_code == 401, (path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        assert "API key" in r.json()["detail"]
    wrong = nobody.get("/api/documents", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    openai_style = nobody.get("/v1/models")
    assert openai_style.status_code == 401 and "API key" in openai_style.json()["error"]["message"]


def test_ask_answers_with_citations(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": MAHER, "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["abstained"] and "Iraq" in body["answer"]
    (cite,) = body["citations"]
    assert set(cite) >= {"n", "source", "chunk_id", "text", "start", "end", "score"}
    assert cite["source"] == ARTICLE.name and "fled to Iraq" in cite["text"]
    assert ARTICLE.read_text()[cite["start"] : cite["end"]] == cite["text"]
    assert body["timings_ms"]["total"] > 0


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"question": ""}, 422, "at least 1 character"),
        ({"question": "   \n "}, 422, "pattern"),
        ({"question": "x" * 2001}, 422, "the limit is 2000"),
        ({"question": 42}, 422, "valid string"),
        ({"question": MAHER, "k": 0}, 422, "greater than or equal to 1"),
        ({"question": MAHER, "k": "many"}, 422, "valid integer"),
        ({"question": MAHER, "history": [{"role": "robot", "content": "hi"}]}, 422, "'user' or 'assistant'"),
        ({"question": MAHER, "llm": "gpt-9"}, 404, "unknown generator"),
        ({}, 422, "Field required"),
    ],
)
def test_bad_questions_are_4xx_with_a_message(client: TestClient, payload: dict, status: int, message: str) -> None:
    r = client.post("/api/ask", json=payload)
    assert r.status_code == status, r.text
    assert message in r.text


def test_huge_bodies_are_refused_before_reading(client: TestClient) -> None:
    r = client.post(
        "/api/ask", content=b"{" + b" " * (11 * 1024 * 1024) + b"}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "over" in r.json()["detail"]
    r = client.post("/api/documents", files={"file": ("big.txt", b"a " * 200_000, "text/plain")})
    assert r.status_code == 413


def test_malformed_json_body_is_4xx(client: TestClient) -> None:
    r = client.post("/api/ask", content=b"\xff{not json", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_stream_sends_answer_event(client: TestClient) -> None:
    with client.stream("POST", "/api/ask/stream", json={"question": MAHER}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("event: ") for line in r.iter_lines() if line.startswith("event: ")]
    assert events[-1] == "answer" and events[:-1] and set(events[:-1]) == {"token"}


def test_openai_errors_use_openai_shape(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", json={"model": "rag", "messages": [{"role": "assistant", "content": "x"}]})
    assert r.status_code == 422 and "last message must be a user message" in r.json()["error"]["message"]
    r = client.post("/v1/chat/completions", json={"model": "gpt-4", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
    assert {m["id"] for m in client.get("/v1/models").json()["data"]} >= {"rag", "rag-extractive"}


def test_upload_list_ask_delete(client: TestClient, app_corpus: Path) -> None:
    text = b"The lighthouse of Port Ellery was painted green in 1911 by the harbour master, Ada Quill.\n"
    r = client.post("/api/documents", files={"file": ("lighthouse.txt", text, "text/plain")})
    assert r.status_code == 201, r.text
    assert r.json()["file"]["status"] == "added" and r.json()["document"]["chunks"] == 1
    doc_id = r.json()["document"]["id"]
    assert (app_corpus / "lighthouse.txt").read_bytes() == text

    listed = client.get("/api/documents").json()["documents"]
    assert {d["source"] for d in listed} == {ARTICLE.name, "lighthouse.txt"}
    answer = client.post("/api/ask", json={"question": "Who painted the lighthouse of Port Ellery green?"}).json()
    assert "Ada Quill" in answer["answer"] and answer["citations"][0]["source"] == "lighthouse.txt"

    again = client.post("/api/documents", files={"file": ("lighthouse.txt", text, "text/plain")})
    assert again.status_code == 200 and again.json()["file"]["status"] == "unchanged"

    # A bad file under the same name is refused and the good one is kept, in the index and on disk.
    bad = client.post("/api/documents", files={"file": ("lighthouse.txt", b"\x00\x01\x02binary", "text/plain")})
    assert bad.status_code == 422 and "binary" in bad.json()["detail"]
    assert (app_corpus / "lighthouse.txt").read_bytes() == text
    assert any(d["id"] == doc_id for d in client.get("/api/documents").json()["documents"])

    gone = client.delete(f"/api/documents/{doc_id}")
    assert gone.status_code == 200 and gone.json()["status"] == "removed"
    assert not (app_corpus / "lighthouse.txt").exists()
    assert client.delete(f"/api/documents/{doc_id}").status_code == 404
    assert {d["source"] for d in client.get("/api/documents").json()["documents"]} == {ARTICLE.name}


def test_non_utf8_upload_is_decoded(client: TestClient) -> None:
    text = "Le café de la gare ouvre à six heures, dit Mme Bérénice Ardent.\n".encode("cp1252")
    r = client.post("/api/documents", files={"file": ("cafe.txt", text, "text/plain")})
    assert r.status_code == 201, r.text
    assert client.delete(f"/api/documents/{r.json()['document']['id']}").status_code == 200


@pytest.mark.parametrize(
    ("name", "data", "status", "message"),
    [
        ("../evil.txt", b"some text", 400, "without folders"),
        ("sub/dir.txt", b"some text", 400, "without folders"),
        (".hidden.txt", b"some text", 400, "without folders"),
        ("tool.exe", b"MZ\x90\x00", 415, "unsupported file type"),
        ("big.txt", b"word " * 20_000, 413, "limit"),
        ("empty.txt", b"", 422, "empty"),
        ("blank.md", b"  \n\n ", 422, "empty"),
        ("binary.txt", bytes(range(256)) * 4, 422, "binary"),
        ("broken.pdf", b"%PDF-1.4 not really a pdf", 422, "broken.pdf"),
    ],
)
def test_bad_uploads_are_4xx_and_leave_nothing(
    client: TestClient, app_corpus: Path, name: str, data: bytes, status: int, message: str
) -> None:
    r = client.post("/api/documents", files={"file": (name, data, "application/octet-stream")})
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]
    # (the write lock file stays: it is the same for every write, never a document nor a leftover)
    assert sorted(p.name for p in app_corpus.iterdir() if p.name != LOCK_NAME) == [ARTICLE.name]


def test_upload_without_file_is_4xx(client: TestClient) -> None:
    assert client.post("/api/documents").status_code == 422


def wait_for(client: TestClient, job_id: str, timeout: float = 300) -> dict:
    """The evaluation job once it is no longer running."""
    deadline = time.monotonic() + timeout
    while (job := client.get(f"/api/eval/{job_id}").json())["status"] == "running":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    return job


def test_evaluation_jobs(client: TestClient) -> None:
    assert "seed.jsonl" in client.get("/api/evalsets").json()["evalsets"]
    started = client.post("/api/eval", json={"evalset": "seed.jsonl", "limit": 12})
    assert started.status_code == 202 and started.json()["status"] == "running"
    # one evaluation at a time
    second = client.post("/api/eval", json={"evalset": "seed.jsonl", "limit": 1})
    assert second.status_code == 409 and "still running" in second.json()["detail"]
    job = wait_for(client, started.json()["id"])
    assert job["status"] == "done" and job["done"] == job["total"] == 12
    (hybrid,) = job["results"]
    assert hybrid["name"] == "hybrid" and hybrid["metrics"]["questions"] == 12
    assert 0.0 <= hybrid["metrics"]["accuracy"] <= 1.0 and hybrid["metrics"][f"hit@{hybrid['metrics']['k']}"] > 0.5
    assert any(row["metric"] == "accuracy" for row in job["table"])
    report = client.get(f"/api/eval/{job['id']}/report")
    assert report.status_code == 200 and "<svg" in report.text and "accuracy" in report.text

    inline = [
        {"id": "q1", "question": MAHER, "answers": ["Iraq"], "evidence": ["also fled to Iraq"]},
        {"id": "q2", "question": "Who won the 2022 World Cup?", "answers": []},
    ]
    job = wait_for(client, client.post("/api/eval", json={"items": inline}).json()["id"])
    metrics = job["results"][0]["metrics"]
    assert job["status"] == "done" and metrics["answerable"] == 1 and metrics["unanswerable"] == 1
    assert metrics["accuracy"] == 1.0


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({"evalset": "nope.jsonl"}, 404, "no eval set"),
        ({"evalset": "../../etc/passwd"}, 404, "no eval set"),
        ({}, 422, "either an eval set name or inline items"),
        ({"items": []}, 422, "no items"),
        ({"items": [{"id": "x"}]}, 422, "Field required"),
        ({"evalset": "seed.jsonl", "k": 0}, 422, "greater than or equal to 1"),
    ],
)
def test_bad_eval_requests(client: TestClient, payload: dict, status: int, message: str) -> None:
    r = client.post("/api/eval", json=payload)
    assert r.status_code == status and message in r.text, r.text
    assert client.get("/api/eval/nope").status_code == 404


def test_empty_index_is_a_clear_409(client: TestClient, app_corpus: Path) -> None:
    """Last in this module: deletes the only document."""
    (doc,) = client.get("/api/documents").json()["documents"]
    assert client.delete(f"/api/documents/{doc['id']}").status_code == 200
    r = client.post("/api/ask", json={"question": MAHER})
    assert r.status_code == 409 and "ingest" in r.json()["detail"]
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["chunks"] == 0  # still ready: uploads work
    assert app_corpus.is_dir()
