"""The generator registry: the kinds, which a server offers, their model names, unknown kinds."""

from __future__ import annotations

from typing import get_args

import pytest

from rag.config import LLMKind, Settings
from rag.errors import ModelLoadError, NotFound
from rag.generate import ExtractiveGenerator
from rag.generators import GENERATORS, KINDS, build_generator, chat_model, generator_kind, model_name, offered
from rag.llm import BUNDLED_GGUF


def settings(**values: object) -> Settings:
    # No key unless a test gives one: what a server offers depends on it.
    return Settings(_env_file=None, **{"openai_api_key": None, **values})  # type: ignore[call-arg, arg-type]


def test_the_registry_has_exactly_the_kinds_the_setting_allows() -> None:
    assert set(KINDS) == set(get_args(LLMKind))
    assert [k for k in KINDS if not GENERATORS[k].writes] == ["extractive"]


def test_a_server_offers_its_default_first_then_what_needs_no_more_set_up() -> None:
    assert offered(settings(llm="local")) == ["local", "extractive"]
    assert offered(settings(llm="extractive")) == ["extractive", "local"]
    assert offered(settings(llm="ollama")) == ["ollama", "local", "extractive"]
    assert offered(settings(llm="local", openai_api_key="k")) == ["local", "extractive", "openai"]


def test_model_names_for_reports() -> None:
    assert model_name(settings(llm="local")) == BUNDLED_GGUF
    assert model_name(settings(llm="openai", openai_model="m1")) == "m1"
    assert model_name(settings(llm="ollama", ollama_model="m2")) == "m2"
    assert model_name(settings(llm="extractive")) == "none (extractive)"


def test_unknown_kinds_and_missing_needs_are_clear_errors() -> None:
    with pytest.raises(NotFound, match="unknown generator 'gpt'; choose from local, extractive, openai or ollama"):
        generator_kind("gpt")
    with pytest.raises(ModelLoadError, match="no chat model for RAG_LLM=extractive"):
        chat_model(settings(llm="extractive"))
    with pytest.raises(ModelLoadError, match="needs RAG_OPENAI_API_KEY"):
        build_generator(settings(llm="openai"))


def test_the_extractive_kind_builds_without_a_language_model() -> None:
    generator = build_generator(settings(llm="extractive"))
    assert isinstance(generator, ExtractiveGenerator) and generator.name == "extractive"
