"""Document writes and evaluation jobs under stress (extractive generator).

On real servers: a burst of uploads while other routes must keep answering, a server killed with SIGKILL
in the middle of an upload, two replicas racing on one corpus folder and one Chroma server. In-process
(the app through TestClient): hostile file names, and evaluation jobs with a bad question, cancelled, or
piling up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.chunking import sha256
from rag.config import Settings
from tests.server import ARTICLE, app_settings, in_process, run_server, serve
from tests.test_api import wait_for

EXTRACTIVE = {"RAG_LLM": "extractive"}
LIGHTHOUSE = "What colour was the lighthouse of Port Ellery painted?"


def paragraphs(n: int, tag: str, first: str = "") -> bytes:
    """``n`` distinct paragraphs of about 300 characters (one chunk each), ``first`` leading."""
    body = [
        f"Log {tag} entry {i}. The ferry from the north quay left at {i % 24:02d}:{(i * 7) % 60:02d} with "
        f"{(i * 13) % 97} passengers and {(i * 5) % 41} crates of salt fish aboard. The mate, called {tag} "
        f"{i}, noted a {['grey', 'calm', 'rough', 'bright'][i % 4]} sea and a wind of force {(i % 9) + 1} "
        f"from the {['north', 'south', 'east', 'west'][i % 4]} before the harbour lights came on."
        for i in range(n)
    ]
    return ("\n\n".join([first, *body] if first else body) + "\n").encode()


def disk(corpus: Path) -> dict[str, str]:
    """Documents on disk: name -> content hash (hidden files are never documents)."""
    return {p.name: sha256(p.read_bytes()) for p in corpus.iterdir() if p.is_file() and not p.name.startswith(".")}


def index(client: httpx.Client) -> dict[str, str]:
    """Documents in the index: source -> content hash (empty while a write of it is unfinished)."""
    r = client.get("/api/documents")
    assert r.status_code == 200, r.text
    return {d["source"]: d["file_hash"] for d in r.json()["documents"]}


def leftovers(corpus: Path) -> list[str]:
    return [p.name for p in corpus.iterdir() if "upload" in p.name]


def upload(client: httpx.Client, name: str, data: bytes) -> httpx.Response:
    return client.post("/api/documents", files={"file": (name, data, "text/plain")})


# --- a burst of uploads -------------------------------------------------------------------------------


@pytest.mark.heavy
def test_a_burst_of_uploads_is_queued_or_refused_at_once_while_the_server_stays_responsive(tmp_path: Path) -> None:
    """One large upload then 49 small ones at once: /healthz and the read routes keep answering within
    a second, every upload is either done or refused at once with 503 + Retry-After, and disk and index
    agree afterwards."""
    big = paragraphs(1000, "big")  # ~330 KB: about ten seconds of embedding, the burst takes one
    with (
        serve(tmp_path, EXTRACTIVE, ui=False) as server,
        server.client(timeout=900) as client,
        server.client(10) as probe,
    ):

        def timed(name: str, data: bytes) -> tuple[httpx.Response, float]:
            t0 = time.perf_counter()
            r = upload(client, name, data)
            return r, time.perf_counter() - t0

        latency: dict[str, list[float]] = {"/healthz": [], "/api/documents": [], "/api/info": []}
        with ThreadPoolExecutor(50) as pool:
            first = pool.submit(timed, "big.txt", big)
            deadline = time.monotonic() + 120
            while not (server.corpus / "big.txt").exists():  # the big one is being indexed
                assert time.monotonic() < deadline and not first.done(), first.result()
                time.sleep(0.05)
            rest = [pool.submit(timed, f"small-{i:02d}.txt", paragraphs(3, f"small{i}")) for i in range(49)]
            while not all(f.done() for f in [first, *rest]):
                for path, seen in latency.items():
                    t0 = time.perf_counter()
                    try:
                        status = probe.get(path).status_code
                    except httpx.TimeoutException:
                        status = 0
                    seen.append(time.perf_counter() - t0)
                    assert status in (0, 200), (path, status)
                time.sleep(0.2)
            results = [f.result() for f in [first, *rest]]

        worst = {path: round(max(seen), 2) for path, seen in latency.items()}
        print("slowest answers during the burst (s):", worst, "probes:", len(latency["/healthz"]))
        assert worst["/healthz"] < 1.0, worst
        assert worst["/api/documents"] < 2.0 and worst["/api/info"] < 2.0, worst

        names = ["big.txt", *(f"small-{i:02d}.txt" for i in range(49))]
        done = [name for (r, _), name in zip(results, names, strict=True) if r.status_code == 201]
        refused = [(r, s) for r, s in results if r.status_code == 503]
        assert len(done) + len(refused) == 50, [r.status_code for r, _ in results]
        assert "big.txt" in done and refused, [r.status_code for r, _ in results]
        for r, seconds in refused:  # refused at once, with when to come back
            assert seconds < 2.0 and int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["detail"], (
                seconds, r.headers, r.text,
            )  # fmt: skip
        print(f"{len(done)} uploads done, {len(refused)} refused with 503")

        assert disk(server.corpus) == index(client)
        assert set(disk(server.corpus)) == {ARTICLE.name, *done}


# --- a server killed mid-upload -----------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("case", ["new", "replace"])
def test_a_server_killed_mid_upload_agrees_with_its_corpus_after_a_restart(tmp_path: Path, case: str) -> None:
    """kill -9 while an upload is being indexed (its file already in the corpus folder): after a restart,
    disk and index agree, the document is listed, answers come from the file on disk, and it can be
    deleted; temp files of interrupted uploads are gone."""
    v1 = b"The lighthouse of Port Ellery was painted green in 1911 by the harbour master, Ada Quill.\n"
    v2 = paragraphs(400, "late", first="The lighthouse of Port Ellery was painted blue in 1931 by Ada Quill.")
    with serve(tmp_path, EXTRACTIVE, ui=False) as server:
        dest = server.corpus / "lighthouse.txt"
        if case == "replace":
            with server.client() as client:
                assert upload(client, "lighthouse.txt", v1).status_code == 201

        def send() -> None:
            # the server dies under it, as intended
            with server.client() as sender_client, contextlib.suppress(httpx.TransportError):
                upload(sender_client, "lighthouse.txt", v2)

        sender = threading.Thread(target=send)
        sender.start()
        deadline = time.monotonic() + 120
        while not (dest.exists() and dest.stat().st_size == len(v2)):
            assert time.monotonic() < deadline and sender.is_alive(), "the upload never reached the corpus folder"
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)
        sender.join(timeout=60)
    # An upload killed while its temp file was being written leaves that file behind.
    (server.corpus / f".rag-upload-{uuid.uuid4().hex}.tmp").write_bytes(v2[:1000])

    with (
        run_server(tmp_path, EXTRACTIVE, "restarted.log", ready_timeout=300, ui=False) as again,
        again.client() as client,
    ):
        on_disk = disk(again.corpus)
        assert on_disk == index(client) and on_disk["lighthouse.txt"] == sha256(v2)
        assert leftovers(again.corpus) == []
        answer = client.post("/api/ask", json={"question": LIGHTHOUSE}).json()
        assert "blue" in answer["answer"] and "green" not in answer["answer"], answer
        (doc,) = [d for d in client.get("/api/documents").json()["documents"] if d["source"] == "lighthouse.txt"]
        assert client.delete(f"/api/documents/{doc['id']}").status_code == 200
        assert not dest.exists() and "lighthouse.txt" not in index(client)


# --- two replicas on one corpus folder and one Chroma server ------------------------------------------


@pytest.mark.heavy
def test_two_replicas_racing_uploads_and_deletes_keep_disk_and_index_in_agreement(
    tmp_path: Path, chroma_server: str
) -> None:
    """Six rounds on two ``rag serve`` processes sharing a corpus folder and a Chroma collection: an upload
    on one racing a delete of the same document on the other, then two uploads of one name at once."""
    shared = tmp_path / "shared-corpus"
    shared.mkdir()
    env = {
        **EXTRACTIVE,
        "RAG_CORPUS_DIR": str(shared),
        "RAG_CHROMA_URL": chroma_server,
        "RAG_COLLECTION": f"race-{uuid.uuid4().hex[:8]}",
    }
    with (
        serve(tmp_path / "a", env, ui=False) as a, serve(tmp_path / "b", env, ui=False) as b,
        a.client() as ca, b.client() as cb, ThreadPoolExecutor(2) as pool,
    ):  # fmt: skip
        dest = shared / "race.txt"
        for n in range(6):
            r = upload(ca, "race.txt", paragraphs(2, f"old{n}"))
            assert r.status_code in (200, 201), r.text
            doc_id = r.json()["document"]["id"]
            new = paragraphs(60, f"new{n}")
            up = pool.submit(upload, ca, "race.txt", new)
            deadline = time.monotonic() + 60
            while not (dest.exists() and dest.stat().st_size == len(new)) and not up.done():
                assert time.monotonic() < deadline
                time.sleep(0.005)
            gone = pool.submit(cb.delete, f"/api/documents/{doc_id}")
            assert up.result().status_code in (200, 201), up.result().text
            assert gone.result().status_code == 200, gone.result().text
            assert disk(shared) == index(ca) == index(cb), f"round {n}: upload on A, delete on B"

            one, two = paragraphs(30, f"one{n}"), paragraphs(45, f"two{n}")
            first, second = pool.submit(upload, ca, "race.txt", one), pool.submit(upload, cb, "race.txt", two)
            assert first.result().status_code in (200, 201) and second.result().status_code in (200, 201)
            on_disk = disk(shared)
            assert on_disk == index(ca) == index(cb), f"round {n}: two uploads at once"
            assert on_disk["race.txt"] in {sha256(one), sha256(two)}
        assert leftovers(shared) == []


# --- file names and evaluation jobs: contracts, in-process (the app rag serve runs, through TestClient) ---


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app for file names and evaluation jobs, with an eval set that holds one over-long question."""
    folder = tmp_path_factory.mktemp("names-evals")
    evals = folder / "evals"
    evals.mkdir()
    good = [
        {"id": "maher", "question": "Where did Maher al-Assad flee to?", "answers": ["Iraq"]},
        {"id": "cup", "question": "Who won the 2022 World Cup?", "answers": []},
    ]
    long = {"id": "long", "question": "Where did Maher al-Assad flee to? " + "x" * 2100, "answers": ["Iraq"]}
    (evals / "mixed.jsonl").write_text("".join(json.dumps(i) + "\n" for i in [good[0], long, good[1]]))
    many = [{"id": f"q{i}", "question": f"Where did Maher al-Assad flee to, case {i}?", "answers": ["Iraq"]}
            for i in range(300)]  # fmt: skip
    (evals / "many.jsonl").write_text("".join(json.dumps(i) + "\n" for i in many))
    with in_process(app_settings(folder, evals_dir=evals)) as c:
        yield c


@pytest.fixture()
def app_config(client: TestClient) -> Settings:
    """The app's settings (where its corpus folder and index are)."""
    return client.app.state.service.settings  # type: ignore[attr-defined]


def test_file_names_up_to_255_bytes_are_accepted_and_longer_ones_refused(
    client: TestClient, app_config: Settings
) -> None:
    name = "n" * 248 + "-é.txt"  # 255 bytes in UTF-8
    assert len(name.encode()) == 255
    r = upload(client, name, b"The longest name in the harbour belongs to the ferry of the north quay.\n")
    assert r.status_code == 201, r.text
    assert (app_config.corpus_dir / name).is_file() and leftovers(app_config.corpus_dir) == []
    assert client.delete(f"/api/documents/{r.json()['document']['id']}").status_code == 200

    r = upload(client, "n" * 252 + ".txt", b"some text")
    assert r.status_code == 400 and "255 bytes" in r.json()["detail"], r.text


@pytest.mark.parametrize(
    "name",
    [
        "invoice\u202etxt.exe.txt",  # RIGHT-TO-LEFT OVERRIDE: shows as "invoiceexe.txt.txt" reversed
        "report\u2067x\u2069.txt",  # RIGHT-TO-LEFT ISOLATE ... POP DIRECTIONAL ISOLATE
        "a\u200bb.txt",  # ZERO WIDTH SPACE: a twin of "ab.txt"
        "soft\u00adhyphen.txt",  # SOFT HYPHEN: invisible
        "del\x7f.txt",  # DEL, a control character
        "line\u2028break.txt",  # LINE SEPARATOR
    ],
)
def test_names_with_control_or_invisible_characters_are_refused(
    client: TestClient, app_config: Settings, name: str
) -> None:
    before = sorted(p.name for p in app_config.corpus_dir.iterdir())
    r = upload(client, name, b"A plain sentence about the harbour.\n")
    assert r.status_code == 400 and "U+" in r.json()["detail"], r.text
    assert sorted(p.name for p in app_config.corpus_dir.iterdir()) == before


def test_composed_and_decomposed_twin_names_are_one_document(client: TestClient, app_config: Settings) -> None:
    text = b"The cafe on the north quay opens at six, says the owner, Berenice Ardent.\n"
    nfd, nfc = unicodedata.normalize("NFD", "Café notes.txt"), unicodedata.normalize("NFC", "Café notes.txt")
    assert nfd != nfc
    first = upload(client, nfd, text)
    assert first.status_code == 201 and first.json()["file"]["source"] == nfc, first.text
    second = upload(client, nfc, text)
    assert second.status_code == 200 and second.json()["file"]["status"] == "unchanged", second.text
    assert second.json()["document"]["id"] == first.json()["document"]["id"]
    assert [p.name for p in app_config.corpus_dir.iterdir() if "notes" in p.name] == [nfc]
    assert client.delete(f"/api/documents/{first.json()['document']['id']}").status_code == 200


# --- evaluation jobs ----------------------------------------------------------------------------------


def test_an_over_long_inline_question_is_refused_before_the_run_starts(client: TestClient) -> None:
    items = [
        {"id": "fine", "question": "Where did Maher al-Assad flee to?", "answers": ["Iraq"]},
        {"id": "too-long", "question": "Where? " + "x" * 2100, "answers": ["Iraq"]},
    ]
    r = client.post("/api/eval", json={"items": items})
    assert r.status_code == 422, r.text
    assert "too-long" in r.json()["detail"] and "limit is 2000" in r.json()["detail"]
    started = client.post("/api/eval", json={"items": items[:1]})  # nothing was started by the refused one
    assert started.status_code == 202, started.text
    assert wait_for(client, started.json()["id"])["status"] == "done"


def test_a_bad_question_in_an_eval_set_is_an_error_of_that_question_not_of_the_run(client: TestClient) -> None:
    started = client.post("/api/eval", json={"evalset": "mixed.jsonl"})
    assert started.status_code == 202, started.text
    job = wait_for(client, started.json()["id"])
    assert job["status"] == "done", job
    assert job["total"] == job["done"] == 2 and job["results"][0]["metrics"]["questions"] == 2
    (error,) = job["errors"]
    assert error["id"] == "long" and "limit is 2000" in error["error"]
    assert client.get(f"/api/eval/{job['id']}/report").status_code == 200


def test_a_running_evaluation_can_be_cancelled(client: TestClient) -> None:
    job = client.post("/api/eval", json={"evalset": "many.jsonl"}).json()
    cancel = client.delete(f"/api/eval/{job['id']}")
    assert cancel.status_code == 202, cancel.text
    stopped = wait_for(client, job["id"], timeout=60)
    assert stopped["status"] == "cancelled" and stopped["done"] < 300, stopped
    assert client.delete(f"/api/eval/{job['id']}").status_code == 409  # nothing left to cancel
    assert client.get(f"/api/eval/{job['id']}/report").status_code == 409
    assert client.delete("/api/eval/nope").status_code == 404
    again = client.post("/api/eval", json={"evalset": "mixed.jsonl"})  # the next one may start
    assert again.status_code == 202, again.text
    wait_for(client, again.json()["id"])


def test_only_the_last_twenty_finished_evaluations_are_kept(client: TestClient, app_config: Settings) -> None:
    item = {"id": "maher", "question": "Where did Maher al-Assad flee to?", "answers": ["Iraq"]}
    ids = []
    for _ in range(22):
        r = client.post("/api/eval", json={"items": [item]})
        assert r.status_code == 202, r.text
        ids.append(r.json()["id"])
        assert wait_for(client, ids[-1])["status"] == "done"
    outputs = app_config.data_dir / "evals"
    for old in ids[:2]:
        assert client.get(f"/api/eval/{old}").status_code == 404
        assert not (outputs / old).exists()
    for kept in ids[2:]:
        assert client.get(f"/api/eval/{kept}").json()["status"] == "done"
        assert (outputs / kept).is_dir()
    assert client.get(f"/api/eval/{ids[-1]}/report").status_code == 200
    assert len([p for p in outputs.iterdir() if p.is_dir()]) == 20
