"""Security of the web UI and of the HTTP guard, on real servers (extractive generator).

No file a client names is ever read: Gradio takes client file paths only from its own upload folder and
serves only its own folders, and the UI handlers never echo a client's file parts. UI uploads are refused
by size before they are read, and removed once indexed. Bodies are limited as they stream in. Keys compare
as UTF-8 bytes. Host and Origin checks stop DNS rebinding and cross-site posts.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.server import ARTICLE, ROOT, Server, serve

KEY = "clé-sécrète-鍵-42"  # not ASCII on purpose: the key must work as UTF-8 bytes
AUTH = {"Authorization": b"Bearer " + KEY.encode()}
FILE_MB = 1
MIB = 1024 * 1024
FILEDATA = {"_type": "gradio.FileData"}
# The history of the report: a file part naming a server file, then an assistant turn.
PASSWD_HISTORY = [
    {"role": "user", "content": [{"type": "file", "file": {"path": "/etc/passwd", "meta": FILEDATA}}]},
    {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
]


@dataclass
class Site:
    """A running server, Gradio's upload folder, and files it must never hand out (path -> secret)."""

    server: Server
    folder: Path
    uploads: Path
    secrets: dict[str, bytes]


def _site(folder: Path, uploads: Path, server: Server) -> Site:
    token = uuid.uuid4().hex
    (folder / "notes.txt").write_text(f"CANARY-PARENT-{token}\n")  # the corpus folder's parent
    (folder / "index" / "canary.md").write_text(f"CANARY-INDEX-{token}\n")  # the index folder
    return Site(
        server,
        folder,
        uploads,
        {
            "/etc/passwd": b"root:x:0:0",
            "/proc/self/environ": b"RAG_CORPUS_DIR=",  # every secret in the server's environment
            str(folder / "notes.txt"): f"CANARY-PARENT-{token}".encode(),
            str(folder / "index" / "canary.md"): f"CANARY-INDEX-{token}".encode(),
            str(folder / "index" / "chroma.sqlite3"): b"SQLite format 3",
        },
    )


def env(uploads: Path, **extra: str) -> dict[str, str]:
    return {"RAG_LLM": "extractive", "RAG_MAX_FILE_MB": str(FILE_MB), "GRADIO_TEMP_DIR": str(uploads), **extra}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """No key (the default): anyone who reaches the port may use it, so only the Host/Origin checks and
    Gradio's own checks stand between a web page and the server."""
    folder, uploads = tmp_path_factory.mktemp("open"), tmp_path_factory.mktemp("open-uploads")
    hosts = {"RAG_ALLOWED_HOSTS": "localhost,127.0.0.1,::1,rag.example.com"}
    with serve(folder, env(uploads, **hosts, RAG_ALLOWED_ORIGINS="https://rag.example.com")) as server:
        yield _site(folder, uploads, server)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """RAG_API_KEY set (from the server's .env file: tests/server.py would send the key as a str header,
    which httpx refuses for text that is not ASCII; here it goes out as UTF-8 bytes)."""
    folder, uploads = tmp_path_factory.mktemp("keyed"), tmp_path_factory.mktemp("keyed-uploads")
    (folder / ".env").write_text(f"RAG_API_KEY={KEY}\n", encoding="utf-8")
    with serve(folder, env(uploads), wait_ready=False) as server:
        deadline = time.monotonic() + 240
        while not ready(server):  # the server indexes its corpus folder at start-up
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.5)
        server.key = KEY
        yield _site(folder, uploads, server)


def ready(server: Server) -> bool:
    try:
        return httpx.get(f"{server.url}/readyz", headers=AUTH, timeout=5).status_code == 200
    except httpx.TransportError:  # busy indexing: ask again
        return False


@contextmanager
def ui_client(site: Site) -> Iterator[httpx.Client]:
    """A browser-like client of the UI: logged in through Gradio's login page when there is a key."""
    with httpx.Client(base_url=site.server.url, timeout=120) as client:
        if site.server.key:
            r = client.post("/ui/login", data={"username": "me", "password": site.server.key})
            assert r.status_code == 200, r.text
        yield client


def api_client(site: Site) -> httpx.Client:
    return httpx.Client(base_url=site.server.url, headers=AUTH if site.server.key else {}, timeout=120)


def call(client: httpx.Client, api_name: str, data: list[Any]) -> tuple[int, str]:
    """POST /ui/gradio_api/call/<name>, then the event stream of its result: (status, text)."""
    r = client.post(f"/ui/gradio_api/call/{api_name}", json={"data": data})
    if r.status_code != 200:
        return r.status_code, r.text
    return 200, client.get(f"/ui/gradio_api/call/{api_name}/{r.json()['event_id']}").text


def leaks(site: Site, text: str = "", client: httpx.Client | None = None) -> list[str]:
    """Every way a secret could have got out: in ``text``, behind any Gradio file URL in it, or copied
    into Gradio's upload folder (where its file route serves from)."""
    found = [f"in the reply: {p}" for p, s in site.secrets.items() if s in text.encode()]
    for url in re.findall(r"/ui/gradio_api/file=[^\"\s\\]+", text):
        if client is not None:
            body = client.get(url).content
            found += [f"served at {url}: {p}" for p, s in site.secrets.items() if s in body]
    for f in site.uploads.rglob("*"):
        if f.is_file():
            with f.open("rb") as handle:
                head = handle.read(MIB)
            found += [f"copied to {f}: {p}" for p, s in site.secrets.items() if s in head]
    return found


def on_disk(site: Site) -> list[str]:
    """The documents in the corpus folder (hidden files are the server's own: locks, temp uploads)."""
    return sorted(p.name for p in site.server.corpus.iterdir() if not p.name.startswith("."))


def documents(site: Site) -> set[str]:
    with api_client(site) as client:
        return {d["source"] for d in client.get("/api/documents").json()["documents"]}


def history_naming(paths: list[str]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for path in paths:
        messages.append({"role": "user", "content": [{"type": "file", "file": {"path": path, "meta": FILEDATA}}]})
        messages.append({"role": "assistant", "content": [{"type": "text", "text": "ok"}]})
    return messages


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    """Upload a file the way the browser does (into Gradio's upload folder): its server path."""
    r = client.post("/ui/gradio_api/upload", files={"files": (name, data, "text/plain")})
    assert r.status_code == 200, r.text
    (path,) = r.json()
    return str(path)


# --- 1. no server file can be read through the Gradio API ---------------------------------------------


@pytest.mark.parametrize("which", ["site", "keyed"])
def test_chat_history_file_part_never_reads_a_server_file(which: str, request: pytest.FixtureRequest) -> None:
    """The report's payload (and the same with other server files): refused, nothing copied or served."""
    s: Site = request.getfixturevalue(which)
    if s.server.key:
        anonymous = httpx.post(f"{s.server.url}/ui/gradio_api/call/respond", json={"data": ["q", [], 4, "extractive"]})
        assert anonymous.status_code == 401
    with ui_client(s) as client:
        status, text = call(client, "respond", ["q", PASSWD_HISTORY, 4, "extractive"])
        assert status == 400 and "upload" in text, (status, text)
        assert leaks(s, text, client) == []
        for path in s.secrets:
            status, text = call(client, "respond", ["q", history_naming([path]), 4, "extractive"])
            assert status == 400 and "file=" not in text, (path, status, text)
            assert leaks(s, text, client) == [], path


@pytest.mark.parametrize("which", ["site", "keyed"])
def test_upload_handler_never_indexes_a_server_file(which: str, request: pytest.FixtureRequest) -> None:
    s: Site = request.getfixturevalue(which)
    before = documents(s)
    targets = [str(ROOT / "README.md"), *(p for p in s.secrets if p.endswith((".txt", ".md")))]
    with ui_client(s) as client:
        for path in targets:
            status, text = call(client, "upload", [[{"path": path, "meta": FILEDATA}]])
            assert status == 400 and "added" not in text, (path, status, text)
    assert documents(s) == before
    assert on_disk(s) == [ARTICLE.name]
    assert leaks(s) == []


def test_chat_handler_echoes_no_file_parts(site: Site) -> None:
    """Even a file that was really uploaded comes back out of the chat handler only as text."""
    with ui_client(site) as client:
        path = upload(client, "note.txt", b"just a note\n")
        parts = [{"type": "text", "text": "see this"}, {"type": "file", "file": {"path": path, "meta": FILEDATA}}]
        history = [{"role": "user", "content": parts}, PASSWD_HISTORY[1]]
        status, text = call(client, "respond", ["Where did Maher al-Assad flee to?", history, 4, "extractive"])
    assert status == 200, text
    final = json.loads(text.split("event: complete\ndata: ", 1)[1].splitlines()[0])
    messages = final[0]
    parts = [p for m in messages for p in (m["content"] if isinstance(m["content"], list) else [m["content"]])]
    assert not [p for p in parts if isinstance(p, dict) and p.get("type") != "text"], messages
    assert "file=" not in text and "see this" in text and "Iraq" in text


def test_file_route_serves_only_gradio_folders(site: Site) -> None:
    with ui_client(site) as client:
        path = upload(client, "mine.txt", b"an uploaded file\n")
        assert client.get(f"/ui/gradio_api/file={path}").content == b"an uploaded file\n"
        for secret in site.secrets:
            for url in (f"/ui/gradio_api/file={secret}", f"/ui/gradio_api/file={site.uploads}/../{secret}"):
                r = client.get(url)
                assert r.status_code in {403, 404}, (url, r.status_code)
                assert leaks(site, r.text) == []


# Routes that run the UI's event handlers, and how each takes its input.
RUNNERS = {
    "/gradio_api/queue/join", "/gradio_api/call/{api_name}", "/gradio_api/call/v2/{api_name}",
    "/gradio_api/run/{api_name}", "/gradio_api/api/{api_name}", "/gradio_api/stream/{event_id}",
    "/gradio_api/component_server",
}  # fmt: skip
# Inputs that cannot carry a file: Gradio's preprocessing never looks for paths in them. A State input is
# the session's value kept on the server: what a client sends in its place is ignored.
PLAIN = {"textbox", "slider", "dropdown", "number", "checkbox", "state"}


def handler_payloads(site: Site, client: httpx.Client) -> list[tuple[int, str, list[Any], dict[str, Any]]]:
    """Every event handler of the UI (from its config) with inputs naming every server file:
    (fn index, api name, data as a list, data by parameter name)."""
    config = client.get("/ui/config").json()
    info = client.get("/ui/gradio_api/info").json()["named_endpoints"]
    components = {c["id"]: c for c in config["components"]}
    paths = list(site.secrets)
    payloads = []
    for dep in config["dependencies"]:
        kinds = [components[i]["type"] for i in dep["inputs"]]
        if set(kinds) <= PLAIN:  # no input of it can carry a file: nothing to probe
            continue
        data: list[Any] = []
        for i, kind in zip(dep["inputs"], kinds, strict=True):
            if kind == "chatbot":
                data.append(history_naming(paths))
            elif kind == "file":
                data.append([{"path": p, "meta": FILEDATA} for p in paths])
            else:
                assert kind in PLAIN, f"input {kind} may carry a file: probe it"
                data.append(components[i].get("props", {}).get("value"))
        params = info.get(f"/{dep['api_name']}", {}).get("parameters", [])
        named = {p["parameter_name"]: v for p, v in zip(params, data, strict=False)}
        payloads.append((dep["id"], dep["api_name"], data, named))
    return payloads


def run_through(client: httpx.Client, route: str, fn: int, name: str, data: list, named: dict) -> str:
    """Run one handler through one route with the given inputs: everything the server answered."""
    session = uuid.uuid4().hex
    base = "/ui/gradio_api"
    if route == "/gradio_api/queue/join":
        r = client.post(f"{base}/queue/join", json={"data": data, "fn_index": fn, "session_hash": session})
        if r.status_code != 200:
            return r.text
        out = []
        with client.stream("GET", f"{base}/queue/data", params={"session_hash": session}) as stream:
            for line in stream.iter_lines():
                out.append(line)
                if '"close_stream"' in line or '"process_completed"' in line:
                    break
        return "\n".join(out)
    if route == "/gradio_api/call/{api_name}":
        return call(client, name, data)[1]
    if route == "/gradio_api/call/v2/{api_name}":
        r = client.post(f"{base}/call/v2/{name}", json=named)
        if r.status_code != 200:
            return r.text
        return client.get(f"{base}/call/v2/{name}/{r.json()['event_id']}").text
    if route in {"/gradio_api/run/{api_name}", "/gradio_api/api/{api_name}"}:
        prefix = route.split("/")[2]
        return client.post(f"{base}/{prefix}/{name}", json={"data": data, "session_hash": session}).text
    if route == "/gradio_api/stream/{event_id}":
        return client.post(f"{base}/stream/{uuid.uuid4().hex}", json={"data": data, "session_hash": session}).text
    body = {"data": data, "component_id": 0, "fn_name": "preprocess", "session_hash": session}
    return client.post(f"{base}/component_server", json=body).text


def probe_get(client: httpx.Client, template: str, value: str) -> str:
    """GET a route with every path parameter set to ``value``: the first 1 MiB of the answer."""
    url = "/ui" + re.sub(r"\{[^}]+\}", lambda _: value, template)
    try:
        with client.stream("GET", url, timeout=httpx.Timeout(10, read=2)) as r:
            body = b""
            for part in r.iter_bytes():
                body += part
                if len(body) > MIB:
                    break
            return body.decode("latin-1")
    except httpx.ReadTimeout:  # an event stream (heartbeats): it named no file
        return ""


def test_every_gradio_route_refuses_paths_outside_its_folders(site: Site) -> None:
    """Every route of the mounted Gradio app (its OpenAPI list) is tried with every server file:
    the routes that run handlers with each handler's file-carrying inputs, the others with the file
    path in every URL parameter (as it is, and climbing out of Gradio's folders)."""
    before = documents(site)
    with ui_client(site) as client:
        listed = client.get("/ui/openapi.json").json()["paths"]
        routes = {(p.rstrip("/") or "/", m) for p, methods in listed.items() for m in methods}
        assert {"/gradio_api/file={path_or_url}", "/gradio_api/queue/join"} <= {p for p, _ in routes}
        payloads = handler_payloads(site, client)
        assert {name for _, name, *_ in payloads} >= {"respond", "upload"}
        tried: dict[tuple[str, str], int] = {}
        for path, method in sorted(routes):
            if path in RUNNERS:
                for fn, name, data, named in payloads:
                    text = run_through(client, path, fn, name, data, named)
                    assert leaks(site, text, client) == [], (path, name)
                    tried[path, method] = tried.get((path, method), 0) + 1
            elif method in {"get", "head"}:
                for secret in site.secrets:
                    for value in (secret, quote(secret, safe=""), "../" * 12 + secret.lstrip("/")):
                        assert leaks(site, probe_get(client, path, value)) == [], (path, value)
                        tried[path, method] = tried.get((path, method), 0) + 1
            else:  # other posts (login, upload, cancel, ...): file objects and form fields naming the files
                files = [{"path": p, "meta": FILEDATA} for p in site.secrets]
                for body in ({"data": files, "files": files, "path": list(site.secrets)}, None):
                    url = "/ui" + re.sub(r"\{[^}]+\}", "x", path)
                    r = client.post(url, json=body) if body else client.post(url, data={"path": "/etc/passwd"})
                    assert leaks(site, r.text, client) == [], path
                    tried[path, method] = tried.get((path, method), 0) + 1
        assert set(tried) == routes and all(tried.values())
    assert documents(site) == before
    assert on_disk(site) == [ARTICLE.name]


def test_gradio_itself_refuses_client_paths_outside_its_upload_folder(tmp_path: Path) -> None:
    """The depth below the request filter: Gradio's own check of client file paths is in force in the
    mounted app (it skipped it, the app never being 'launched'), so a handler never sees such a path."""
    from gradio.exceptions import InvalidPathError
    from starlette.routing import Mount

    from api.app import create_app
    from rag.config import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    settings = Settings(corpus_dir=corpus, data_dir=tmp_path / "index", llm="extractive", _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings)
    (mount,) = [r for r in app.router.routes if isinstance(r, Mount) and r.path == "/ui"]
    blocks = mount.app.get_blocks()  # type: ignore[attr-defined]
    respond = next(fn for fn in blocks.fns.values() if fn.name == "respond")
    with pytest.raises(InvalidPathError, match="not uploaded by a user"):
        # the last input is the conversation's answers (a gr.State, held on the server)
        asyncio.run(blocks.process_api(respond, ["q", PASSWD_HISTORY, 4, "extractive", None], state=None))
    upload_fn = next(fn for fn in blocks.fns.values() if fn.name == "upload")
    readme = [{"path": str(ROOT / "README.md"), "meta": FILEDATA}]
    with pytest.raises(InvalidPathError):
        asyncio.run(blocks.process_api(upload_fn, [readme], state=None))
    assert list(corpus.iterdir()) == []


# --- 2. and 3. UI uploads: refused by size before they are read, removed once indexed -----------------


def post_chunked(
    server: Server, path: str, head: bytes, total: int, tail: bytes, headers: dict[str, str] | None = None
) -> tuple[int, int]:
    """POST ``head``, ``total`` bytes of padding and ``tail`` chunked (no Content-Length), stopping as soon
    as the server answers: (status, padding bytes sent)."""
    url = httpx.URL(server.url)
    lines = [f"POST {path} HTTP/1.1", f"Host: {url.host}:{url.port}", "Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if server.key:
        lines.append("Authorization: Bearer " + KEY.encode().decode("latin-1"))
    block, sent, reply = b"a" * MIB, 0, b""
    with socket.create_connection((url.host, url.port), timeout=120) as sock:
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + b"%x\r\n%s\r\n" % (len(head), head))
            # poll, not select: by this point of a full run the process may hold more than 1,024 fds
            answered = select.poll()
            answered.register(sock, select.POLLIN)
            while sent < total and not answered.poll(0):
                sock.sendall(b"%x\r\n%s\r\n" % (len(block), block))
                sent += len(block)
            if sent >= total:
                sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: read its answer
        while b"\r\n" not in reply:
            part = sock.recv(65536)
            if not part:
                break
            reply += part
    assert reply.startswith(b"HTTP/1.1 "), reply[:200]
    return int(reply.split(b" ", 2)[1]), sent


def multipart(name: str) -> tuple[bytes, bytes, dict[str, str]]:
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def peak_growth(pid: int) -> Any:
    """A context measuring how far the process's peak memory rose above its memory at the start (MiB)."""

    class Peak:
        def __enter__(self) -> Peak:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
            self.start = self.read("VmRSS")
            return self

        def read(self, field: str) -> int:
            status = Path(f"/proc/{pid}/status").read_text()
            return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) // 1024  # type: ignore[union-attr]

        def __exit__(self, *exc: object) -> None:
            self.mib = self.read("VmHWM") - self.start

    return Peak()


def test_oversize_ui_upload_is_refused_before_it_is_read(site: Site) -> None:
    """A 200 MiB upload: Gradio refuses it while it streams in (RAG_MAX_FILE_MB); and a file that is in
    the upload folder anyway is refused by its size on disk, without being read into memory."""
    head, tail, headers = multipart("big.txt")
    status, sent = post_chunked(site.server, "/ui/gradio_api/upload", head, 200 * MIB, tail, headers)
    assert status == 413 and sent < 50 * MIB, (status, sent)
    assert not [f for f in site.uploads.rglob("big.txt")]

    big = site.uploads / "handmade" / "big.txt"
    big.parent.mkdir(exist_ok=True)
    with big.open("wb") as f:
        f.truncate(200 * MIB)  # sparse: nothing on disk, 200 MiB when read
    with ui_client(site) as client, peak_growth(site.server.pid) as peak:
        status, text = call(client, "upload", [[{"path": str(big), "meta": FILEDATA}]])
    assert peak.mib < 64, f"the server's memory rose by {peak.mib} MiB"
    assert status == 200 and f"over the {FILE_MB} MB limit" in text, text
    assert "big.txt" not in documents(site)
    big.unlink(missing_ok=True)


def test_ui_upload_is_removed_from_gradio_folder_once_handled(site: Site) -> None:
    """Indexed (its text is in the corpus folder now) or refused: either way the upload is removed."""
    with ui_client(site) as client:
        kept = upload(client, "harbour.txt", b"The harbour of Port Ellery froze over in the winter of 1903.\n")
        refused = upload(client, "blank.txt", b"  \n")
        assert Path(kept).is_file() and Path(refused).is_file()
        status, text = call(client, "upload", [[{"path": p, "meta": FILEDATA} for p in (kept, refused)]])
        assert status == 200 and "harbour.txt**: added" in text and "blank.txt**: not added" in text, text
        assert not Path(kept).exists() and not Path(refused).exists()
        assert not Path(kept).parent.exists()  # nor the folder Gradio made for it
        doc = next(d for d in client.get("/api/documents").json()["documents"] if d["source"] == "harbour.txt")
        assert client.delete(f"/api/documents/{doc['id']}").status_code == 200


@pytest.mark.heavy
def test_gradio_cache_is_emptied_when_the_server_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    """An upload that no handler ever took (a closed tab) does not stay on disk: Gradio's cache cleanup
    is on (it removes old files on a schedule, and all of them at shutdown)."""
    folder, uploads = tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("cache-uploads")
    with serve(folder, env(uploads)) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        path = Path(upload(client, "left.txt", b"left behind\n"))
        assert path.is_file()
    assert not path.exists()


# --- 4. bodies are limited as they stream in -------------------------------------------------------------


def test_chunked_bodies_over_the_limit_are_refused_while_they_stream(site: Site) -> None:
    """No Content-Length, 60 MiB: refused with 413 long before the end (10 MiB for JSON, the file
    limit for uploads), on /api, /v1 and the UI's own routes; the server keeps serving."""
    question = b'{"question": "Where did Maher al-Assad flee to?", "history": [], "pad": "'
    chat = b'{"model": "rag", "messages": [{"role": "user", "content": "'
    form_head, form_tail, form = multipart("big.txt")
    cases = [
        ("/api/ask", question, b'"}', {"Content-Type": "application/json"}, 10),
        ("/v1/chat/completions", chat, b'"}]}', {"Content-Type": "application/json"}, 10),
        ("/api/documents", form_head.replace(b'"files"', b'"file"'), form_tail, form, FILE_MB),
        ("/ui/gradio_api/queue/join", b'{"data": ["', b'"], "fn_index": 0, "session_hash": "x"}',
         {"Content-Type": "application/json"}, 10),
    ]  # fmt: skip
    for path, head, tail, headers, limit_mib in cases:
        status, sent = post_chunked(site.server, path, head, 60 * MIB, tail, headers)
        assert status == 413, (path, status)
        assert sent < limit_mib * MIB + 16 * MIB, (path, sent)  # the rest never left the client
    assert httpx.get(f"{site.server.url}/healthz").status_code == 200
    assert on_disk(site) == [ARTICLE.name]


# --- 5. keys compare as UTF-8 bytes --------------------------------------------------------------------


def test_non_ascii_key_works_and_non_ascii_passwords_are_refused_cleanly(keyed: Site) -> None:
    url = keyed.server.url
    assert httpx.get(f"{url}/api/documents", headers=AUTH).status_code == 200
    for token in ("mauvaise-clé".encode(), b"wrong", KEY.encode("latin-1", "replace")):
        r = httpx.get(f"{url}/api/documents", headers={"Authorization": b"Bearer " + token})
        assert r.status_code == 401, (token, r.text)
    for password in ("mauvaise-clé", "wrong", KEY + "x"):
        r = httpx.post(f"{url}/ui/login", data={"username": "me", "password": password})
        assert r.status_code == 400 and "Incorrect credentials" in r.text, (password, r.status_code, r.text)
    r = httpx.post(f"{url}/ui/login", data={"username": "me", "password": KEY})
    assert r.status_code == 200 and r.json() == {"success": True}


# --- 6. Host and Origin checks ---------------------------------------------------------------------------


def test_foreign_host_headers_are_refused(site: Site, keyed: Site) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 sends Host: evil.example."""
    port = httpx.URL(site.server.url).port
    with api_client(site) as client:
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", ""):
            r = client.get("/api/documents", headers={"Host": host})
            assert r.status_code == 400 and "RAG_ALLOWED_HOSTS" in r.json()["detail"], (host, r.text)
            assert client.get("/ui/", headers={"Host": host}).status_code == 400
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST", "rag.example.com"):
            assert client.get("/api/documents", headers={"Host": host}).status_code == 200, host
        assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200  # probes: any name
    with api_client(keyed) as client:  # the defaults: loopback names only
        assert client.get("/api/documents", headers={"Host": "rag.example.com"}).status_code == 400
        assert client.get("/api/documents", headers={"Host": f"localhost:{port}"}).status_code == 200
        r = client.get("/v1/models", headers={"Host": "evil.example"})
        assert r.status_code == 400 and "RAG_ALLOWED_HOSTS" in r.json()["error"]["message"]


def test_cross_site_writes_are_refused(site: Site, keyed: Site) -> None:
    """A form on another site posting to the server: refused by its Origin (or Referer); same-origin
    pages, listed origins and clients that send neither (curl, SDKs) go through."""
    own = site.server.url
    doc = ("page.txt", b"The quay of Port Ellery is made of granite from Aberdeen.\n", "text/plain")
    with api_client(site) as client:
        foreign = ["http://evil.example", "null", own + "0"]  # another site, an opaque origin, another port
        for headers in [*({"Origin": o} for o in foreign), {"Referer": "http://evil.example/page.html"}]:
            r = client.post("/api/documents", files={"file": doc}, headers=headers)
            assert r.status_code == 403 and "RAG_ALLOWED_ORIGINS" in r.json()["detail"], (headers, r.text)
            r = client.post("/ui/gradio_api/queue/join", json={"data": [], "fn_index": 6, "session_hash": "x"},
                            headers=headers)  # fmt: skip
            assert r.status_code == 403, headers
        assert on_disk(site) == [ARTICLE.name]
        assert client.get("/api/documents", headers={"Origin": "http://evil.example"}).status_code == 200  # reads
        for headers in ({"Origin": own}, {"Referer": f"{own}/ui/"}, {"Origin": "https://rag.example.com"}, {}):
            r = client.post("/api/documents", files={"file": doc}, headers=headers)
            assert r.status_code in {200, 201}, (headers, r.text)
            assert client.delete(f"/api/documents/{r.json()['document']['id']}").status_code == 200
        chat = {"model": "rag", "messages": [{"role": "user", "content": "Where did Maher al-Assad flee to?"}]}
        assert client.post("/v1/chat/completions", json=chat).status_code == 200
    r = httpx.post(f"{keyed.server.url}/ui/login", data={"username": "me", "password": KEY},
                   headers={"Origin": "http://evil.example"})  # fmt: skip
    assert r.status_code == 403
