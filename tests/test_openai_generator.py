"""RAG_LLM=openai/ollama plumbing against a scripted OpenAI-compatible server on loopback.

The server replies with a fixed sentence: this checks the wiring (URL, key, streaming protocol and
citation checks), not answer quality, which the local-LLM tests cover.
"""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import GeneratorError, ModelLoadError
from rag.factory import build_engine, build_ingestor, build_store
from rag.schema import Answer

REPLY = "Maher al-Assad fled to Iraq [1]."


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []
    verdict: ClassVar[str] = "Yes"  # the reply to the judge's question

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        reply = Handler.verdict if "Reply Yes or No" in body["messages"][-1]["content"] else REPLY
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for word in reply.split(" "):
                delta = {"choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
                self.wfile.write(
                    f"data: {json.dumps({'id': 'x', 'object': 'chat.completion.chunk', **delta})}\n\n".encode()
                )
            self.wfile.write(b"data: [DONE]\n\n")
            return
        payload = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.seen.clear()
    Handler.verdict = "Yes"
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def ask_remote(settings: Settings, server: str, question: str) -> Answer:
    """The question through the chain with the scripted server as an OpenAI endpoint (model "m1")."""
    remote = settings.model_copy(
        update={"llm": "openai", "openai_base_url": server, "openai_api_key": "sk-test", "openai_model": "m1"}
    )
    store = build_store(remote)
    build_ingestor(remote, store).run([remote.corpus_dir], progress=False)
    return build_engine(remote, store).ask(question)


def test_openai_compatible_endpoint_answers_with_citations(settings: Settings, embedder: Embedder, server: str) -> None:
    answer = ask_remote(settings, server, "Where did Maher al-Assad flee to?")
    assert answer.answer == REPLY and answer.grounded
    assert "fled to Iraq" in answer.citations[0].text
    request, judged = Handler.seen
    assert request["path"] == "/v1/chat/completions" and request["model"] == "m1"
    assert request["auth"] == "Bearer sk-test"
    assert "[1]" in request["messages"][-1]["content"]  # numbered passages were sent
    # then the judge: the cited passage and the question, a reply of a word or two
    assert (
        "fled to Iraq" in judged["messages"][-1]["content"]
        and judged.get("max_completion_tokens", judged.get("max_tokens")) == 3
    )
    assert answer.checks["judge_prob"] == 1.0


def test_an_answer_the_remote_model_judges_off_the_question_is_declined(
    settings: Settings, embedder: Embedder, server: str
) -> None:
    Handler.verdict = "No, it does not."
    answer = ask_remote(settings, server, "Where did Maher al-Assad flee to?")
    assert answer.abstained and answer.abstain_reason == "not_answered" and answer.checks["judge_prob"] == 0.0


def test_ollama_uses_its_openai_compatible_api(settings: Settings, embedder: Embedder, server: str) -> None:
    local = settings.model_copy(update={"llm": "ollama", "ollama_base_url": server, "ollama_model": "qwen"})
    store = build_store(local)
    build_ingestor(local, store).run([local.corpus_dir], progress=False)
    assert build_engine(local, store).ask("Where did Maher al-Assad flee to?").citations
    assert Handler.seen[-1]["model"] == "qwen"


def test_openai_without_a_key_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(ModelLoadError, match="RAG_OPENAI_API_KEY"):
        build_engine(settings.model_copy(update={"llm": "openai", "openai_api_key": None}))


def test_an_unreachable_endpoint_is_a_clear_error(settings: Settings, embedder: Embedder) -> None:
    remote = settings.model_copy(
        update={"llm": "openai", "openai_base_url": "http://127.0.0.1:9/v1", "openai_api_key": "k"}
    )
    store = build_store(remote)
    build_ingestor(remote, store).run([remote.corpus_dir], progress=False)
    with pytest.raises(GeneratorError, match="openai generator failed"):
        build_engine(remote, store).ask("Where did Maher al-Assad flee to?")
