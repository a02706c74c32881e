"""Explained abstentions on a real index (real Chroma, the bundled embedder, the extractive generator)."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.embeddings import Embedder
from rag.factory import build_engine, build_ingestor, build_store


@pytest.fixture()
def engine(settings: Settings, embedder: Embedder):  # type: ignore[no-untyped-def]
    store = build_store(settings)
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    return build_engine(settings, store)


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("Who won the 2022 World Cup?", "'2022', 'cup'"),
        ("who is the drummer for guns and roses", "'drummer', 'guns', 'roses'"),
        ("Which team did Maher al-Assad coach in the Bundesliga?", "'bundesliga'"),
        ("I'm reading up on Syria for a class. Who won the 2022 World Cup?", "'2022', 'cup'"),
    ],
)
def test_a_question_about_what_the_documents_never_mention_is_declined_and_says_why(
    engine, question: str, named: str
) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask(question)
    assert answer.abstained and answer.answer == "The documents do not say."
    assert answer.abstain_reason == "not_in_documents"
    assert answer.abstain_detail == f"The documents never mention {named}."
    assert answer.citations == []
    # the nearest passages come with it, to read for oneself, numbered from 1
    assert [c.n for c in answer.nearest] == list(range(1, len(answer.nearest) + 1))
    assert answer.nearest and all(c.source == "syria-assad-fall.txt" and c.text for c in answer.nearest)
    assert "generate" not in answer.timings_ms  # declined before any generation


def test_a_question_the_documents_answer_passes_the_subject_check(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("Where did Maher al-Assad flee to?")
    assert not answer.abstained and "Iraq" in answer.answer
    assert answer.abstain_reason is None and answer.nearest == []
    assert answer.checks["not_in_documents"] == [] and answer.checks["best_score"] > 0.5


@pytest.mark.parametrize(
    "question",
    [
        "I'm writing a report for my history class at Stanford. Where did Maher al-Assad flee to?",
        "Our book club in Melbourne meets on Monday. Besides Russia and Iran, which ally supported al-Assad?",
    ],
)
def test_names_in_the_background_of_a_question_are_not_its_subject(engine, question: str) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask(question)
    assert answer.abstain_reason != "not_in_documents" and answer.checks["not_in_documents"] == []


def test_a_paraphrase_about_a_named_subject_is_not_declined_for_its_other_words(engine) -> None:  # type: ignore[no-untyped-def]
    """Most of its words are not the article's ("ordinary", "people", "reacting"), but it names Damascus and
    Homs and a passage is close to it: it asks about the article in other words ("residents began to
    prepare for possible conflict")."""
    question = "how were ordinary people in damascus reacting once homs fell"
    assert engine.retriever.vocabulary().unknown(question)[1] == ["ordinary", "people", "reacting"]
    answer = engine.ask(question)
    assert answer.checks["not_in_documents"] == [] and answer.checks["best_score"] >= 0.45
    # the same unknown words about nothing the article names stay another subject
    assert engine.unknown_subject("how were ordinary people reacting", 0.9) == ["ordinary", "people", "reacting"]
    assert engine.unknown_subject(question, 0.3) == ["ordinary", "people", "reacting"]  # no passage close


def test_the_subject_check_can_be_turned_off(settings: Settings, embedder: Embedder) -> None:
    store = build_store(settings)
    build_ingestor(settings, store).run([settings.corpus_dir], progress=False)
    engine = build_engine(settings.model_copy(update={"check_names": False}), store)
    answer = engine.ask("Which team did Maher al-Assad coach in the Bundesliga?")
    assert answer.abstain_reason != "not_in_documents"


def test_a_question_far_from_every_passage_says_no_relevant_passage(engine) -> None:  # type: ignore[no-untyped-def]
    answer = engine.ask("What is the boiling point of liquid nitrogen in kelvin?")
    assert answer.abstained
    assert answer.abstain_reason in {"no_relevant_passage", "not_in_documents"}
    assert answer.abstain_detail
