"""Conversations that push the limits: histories longer than the local model's context, answer-cache
keys that must not hold whole histories, and text that is not valid Unicode (lone surrogates)."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from rag.cache import AnswerCache
from rag.generate import Tokens, format_history
from rag.schema import Answer, Turn
from tests.server import ARTICLE, Server, app_settings, in_process

MAHER = "Where did Maher al-Assad flee to?"
BAD = "\ud800"  # a lone surrogate: JSON can carry it ("\\ud800"), UTF-8 cannot


def long_history(total_chars: int = 20_000) -> list[Turn]:
    """Real article text in long assistant turns (5 KB: four of them overflow a 2,048-token context),
    ending with an exchange about Maher al-Assad."""
    text = " ".join(ARTICLE.read_text().split() * 2)
    history: list[Turn] = []
    while sum(len(t.content) for t in history) < total_chars:
        history += [
            Turn(role="user", content="Tell me everything about the fall of Damascus."),
            Turn(role="assistant", content=text),
        ]
    return [
        *history,
        Turn(role="user", content="Who is Maher al-Assad?"),
        Turn(role="assistant", content="Maher al-Assad is the brother of President Bashar al-Assad."),
    ]


# --- 7: the follow-up rewrite prompt fits the model's context ---
def test_history_keeps_the_most_recent_turns_that_fit_the_budget() -> None:
    history = long_history()
    assert format_history(history) == "\n".join(f"{t.role.capitalize()}: {t.content}" for t in history[-8:])
    kept = format_history(history, budget=600)
    assert Tokens().count(kept) <= 600
    # the latest turns, in order, and nothing older than a turn that did not fit
    assert kept.endswith("Assistant: Maher al-Assad is the brother of President Bashar al-Assad.")
    assert "User: Who is Maher al-Assad?" in kept
    lines = kept.split("\n")
    expected = [f"{t.role.capitalize()}: {t.content}" for t in history[-len(lines) :]]
    assert lines == expected


def test_a_single_turn_over_the_budget_keeps_its_beginning() -> None:
    turn = Turn(role="assistant", content="Maher al-Assad fled to Iraq. " + "More words here. " * 5000)
    kept = format_history([turn], budget=100)
    assert kept.startswith("Assistant: Maher al-Assad fled to Iraq.") and kept.endswith(" ...")
    assert Tokens().count(kept) <= 100
    assert format_history([turn], budget=1) == ""


@pytest.mark.llm
def test_a_follow_up_after_a_20_kb_conversation_is_answered(llm_server: Server) -> None:
    """With RAG_LLM_CTX=2048 a 20 KB history used to overflow the rewrite prompt: 502 for every
    later question of the conversation."""
    history = [t.model_dump() for t in long_history(20_000)]
    assert len(json.dumps(history)) >= 20_000
    with llm_server.client() as client:
        r = client.post("/api/ask", json={"question": "Where did he flee to?", "history": history})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] and body["standalone_question"]
    assert "Maher" in body["standalone_question"] and "Iraq" in body["answer"], body


# --- 8: answer-cache keys are digests ---
def test_cache_keys_are_digests_of_every_part() -> None:
    base = ("v1", "local", 4, "Where did he go?", [Turn(role="user", content="Who is Maher?")])
    key = AnswerCache.key(*base)
    assert len(key) == 64 and key == AnswerCache.key(*base)
    others = [
        ("v2", *base[1:]),
        ("v1", "extractive", *base[2:]),
        (*base[:2], 5, *base[3:]),
        (*base[:3], "Where did she go?", base[4]),
        (*base[:4], [Turn(role="assistant", content="Who is Maher?")]),
        (*base[:4], [Turn(role="user", content="Who is Maher?"), Turn(role="assistant", content="")]),
        (*base[:4], []),
        # the same characters split differently between parts
        (*base[:3], "Where did he go?Who is Maher?", []),
        (*base[:4], [Turn(role="user", content="Who is"), Turn(role="user", content="Maher?")]),
    ]
    keys = {AnswerCache.key(*o) for o in others}  # type: ignore[arg-type]
    assert len(keys) == len(others) and key not in keys


def test_cache_does_not_keep_the_histories_it_was_asked_with() -> None:
    """25 answers to conversations of 4 MiB each used to keep 100 MB alive in their keys."""
    cache = AnswerCache(size=25)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(25):
            history = [Turn(role="user", content=f"{i} " + "x" * (4 << 20))]
            cache.put(AnswerCache.key("v1", "local", 4, "Where did he go?", history), Answer(answer=f"a{i}"))
            del history
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(cache) == 25
    assert retained < 256 * 1024, f"{retained / 2**20:.1f} MiB kept for 25 answers"
    again = AnswerCache.key("v1", "local", 4, "Where did he go?", [Turn(role="user", content="24 " + "x" * (4 << 20))])
    hit = cache.get(again)
    assert hit is not None and hit.answer == "a24" and hit.cached


# --- 9 and other odd input: a clear 4xx over HTTP, never a 500 (in-process: an unhandled error raises) ---
@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with in_process(app_settings(tmp_path_factory.mktemp("odd-input"))) as c:
        yield c


def post_raw(client: httpx.Client, path: str, payload: object) -> httpx.Response:
    # json.dumps escapes a lone surrogate as "\ud800": these are the bytes a client would send.
    body = json.dumps(payload).encode()
    return client.post(path, content=body, headers={"content-type": "application/json"})


def user(content: object) -> dict[str, object]:
    return {"role": "user", "content": content}


ASK_SURROGATES = {
    "question": {"question": f"Where did Maher al-Assad flee to? {BAD}"},
    "history": {"question": MAHER, "history": [{"role": "user", "content": f"Hello {BAD}"}]},
    "llm": {"question": MAHER, "llm": f"local{BAD}"},
}
V1_SURROGATES = {
    "content": {"messages": [user(f"Where did Maher al-Assad flee to? {BAD}")]},
    "text part": {"messages": [user([{"type": "text", "text": f"{MAHER} {BAD}"}])]},
    "earlier message": {"messages": [{"role": "assistant", "content": f"Hi {BAD}"}, user(MAHER)]},
    "model": {"model": f"rag{BAD}", "messages": [user(MAHER)]},
}


@pytest.mark.parametrize("path", ["/api/ask", "/api/ask/stream"])
@pytest.mark.parametrize("where", list(ASK_SURROGATES))
def test_lone_surrogates_are_refused_on_api_ask(client: httpx.Client, path: str, where: str) -> None:
    r = post_raw(client, path, ASK_SURROGATES[where])
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert "not valid Unicode" in error["msg"] and where in error["loc"], error


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("where", list(V1_SURROGATES))
def test_lone_surrogates_are_refused_on_chat_completions(client: httpx.Client, where: str, stream: bool) -> None:
    r = post_raw(client, "/v1/chat/completions", {**V1_SURROGATES[where], "stream": stream})
    assert r.status_code == 422, r.text
    assert "not valid Unicode" in r.json()["error"]["message"]


def test_a_huge_last_question_does_not_become_the_search(client: httpx.Client) -> None:
    """Without an LLM a follow-up is searched with the previous question appended: a 4 MB "question"
    in the history used to be searched whole (46 s on 2 cores) and echoed back as the standalone one."""
    history = [user("Tell me about Maher al-Assad. " + "More about him, please. " * 170_000)]
    r = post_raw(client, "/api/ask", {"question": "Where did he flee to?", "history": history})
    assert r.status_code == 200, r.text[:500]
    standalone = r.json()["standalone_question"]
    assert standalone.startswith("Where did he flee to? (Tell me about Maher al-Assad.") and len(standalone) <= 400


def test_valid_unicode_beyond_the_bmp_is_answered(client: httpx.Client) -> None:
    """A proper surrogate pair in JSON ("\\ud83d\\ude00") is one character, not an error."""
    r = post_raw(client, "/api/ask", {"question": f"{MAHER} \U0001f600", "history": [user("\U0001f600")]})
    assert r.status_code == 200 and "Iraq" in r.json()["answer"], r.text
    r = post_raw(client, "/v1/chat/completions", {"messages": [user(f"{MAHER} \U0001f600")]})
    assert r.status_code == 200 and "Iraq" in r.json()["choices"][0]["message"]["content"], r.text


ODD_ASK = [
    ({"question": MAHER, "k": 10**30}, "less than or equal to 50"),
    ({"question": MAHER, "k": 1e300}, "exceeded maximum size"),
    ({"question": MAHER, "k": 2.5}, "fractional part"),
    ({"question": MAHER, "history": "hello"}, "valid list"),
    ({"question": MAHER, "history": ["hello"]}, "valid dictionary"),
    ({"question": MAHER, "history": [{"role": "user", "content": ["a"]}]}, "valid string"),
    ({"question": MAHER, "history": [{"role": "user"}]}, "Field required"),
    ({"question": MAHER, "history": [{"role": "user", "content": "hi"}] * 51}, "at most 50 items"),
    ({"question": {"text": MAHER}}, "valid string"),
    ({"question": MAHER, "llm": 7}, "valid string"),
    ([MAHER], "valid dictionary"),
    ("Where?", "valid dictionary"),
]


@pytest.mark.parametrize(("payload", "message"), ODD_ASK)
def test_odd_ask_requests_are_422(client: httpx.Client, payload: object, message: str) -> None:
    r = post_raw(client, "/api/ask", payload)
    assert r.status_code == 422 and message in r.text, r.text


ODD_V1 = [
    ({"messages": []}, "at least 1 item"),
    ({"messages": [{"role": "system", "content": "Be brief."}]}, "last message must be a user message"),
    ({"messages": [{"role": "developer", "content": "Be brief."}]}, "last message must be a user message"),
    ({"messages": [user(None)]}, "the question is empty"),
    ({"messages": [user([])]}, "the question is empty"),
    ({"messages": [user([{"type": "image_url", "image_url": {"url": "x"}}])]}, "the question is empty"),
    ({"messages": [user([{"type": "text", "text": {"text": MAHER}}])]}, "valid string"),
    ({"messages": [user([[{"type": "text", "text": MAHER}]])]}, "valid dictionary"),
    ({"messages": [user([{"text": MAHER}])]}, "Field required"),
    ({"messages": [user({"type": "text", "text": MAHER})]}, "content must be a string, a list of content parts"),
    ({"messages": [user(42)]}, "content must be a string, a list of content parts"),
    ({"messages": [{"content": MAHER}]}, "Field required"),
    ({"messages": [user(MAHER)], "model": None}, "valid string"),
    ({"messages": [user(MAHER)], "stream": "sometimes"}, "valid boolean"),
    ({"messages": user(MAHER)}, "valid list"),
    ({"messages": [user("x" * 2001)]}, "the limit is 2000"),
]


@pytest.mark.parametrize(("payload", "message"), ODD_V1)
def test_odd_chat_completions_are_422_in_openai_shape(client: httpx.Client, payload: object, message: str) -> None:
    r = post_raw(client, "/v1/chat/completions", payload)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"], r.text


def test_text_parts_and_extra_fields_are_understood(client: httpx.Client) -> None:
    parts = [
        {"type": "text", "text": "Where did Maher al-Assad"},
        {"type": "image_url"},
        {"type": "text", "text": "flee to?"},
    ]
    payload = {"messages": [{"role": "system", "content": "Be brief."}, user(parts)], "temperature": 0.3, "n": 1}
    r = post_raw(client, "/v1/chat/completions", payload)
    assert r.status_code == 200 and "Iraq" in r.json()["choices"][0]["message"]["content"], r.text
