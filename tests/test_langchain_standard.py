"""LangChain's own standard test suites (``langchain-tests``) on our LangChain components: the hybrid
retriever over a real index, and the local chat model (the bundled GGUF through llama-cpp-python).

The capabilities the chat model does not have are declared off below; the suite then skips the tests
that need them, as it documents, and runs every other one on the real model."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import ChatModelIntegrationTests, RetrieversIntegrationTests

from rag.config import Settings
from rag.embeddings import Embedder
from rag.llm import LlamaCppChat, load_local
from rag.retrieve import HybridRetriever
from rag.store import Store


class TestHybridRetriever(RetrieversIntegrationTests):
    """The retriever over the shared index of the default article (real Chroma, the bundled embedder)."""

    @pytest.fixture(autouse=True)
    def _index(self, indexed_store: Store, embedder: Embedder) -> None:
        # The suite reads its constructor's arguments from properties, outside any fixture: keep them here.
        self.store, self.embedder = indexed_store, embedder

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return HybridRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"store": self.store, "embedder": self.embedder, "k": 3}

    @property
    def retriever_query_example(self) -> str:
        return "Where did Maher al-Assad flee to?"


@pytest.mark.llm
class TestLocalChatModel(ChatModelIntegrationTests):
    """The bundled local model, loaded once per process and shared by every test here."""

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return LlamaCppChat

    @property
    def chat_model_params(self) -> dict[str, Any]:
        local = load_local(Settings(llm="local", _env_file=None))  # type: ignore[call-arg]
        return {"llama": local.llama, "model_name": local.model_name}

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # Short replies: the suite checks the protocol (invoke, stream, batch, stop, ...), not the text.
        return {**super().standard_chat_model_params, "max_tokens": 16}

    # What a 1.5B local model behind llama.cpp's chat template does not offer.
    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def supports_json_mode(self) -> bool:
        return False

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_image_urls(self) -> bool:
        return False

    @property
    def supports_pdf_inputs(self) -> bool:
        return False

    @property
    def supports_audio_inputs(self) -> bool:
        return False

    @property
    def supports_video_inputs(self) -> bool:
        return False

    @property
    def supports_image_tool_message(self) -> bool:
        return False

    @property
    def supports_pdf_tool_message(self) -> bool:
        return False

    @property
    def supports_anthropic_inputs(self) -> bool:
        return False

    @property
    def returns_usage_metadata(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False  # one model file per process
