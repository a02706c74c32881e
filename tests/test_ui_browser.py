"""The web UI in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ui_page
from tests.server import ARTICLE, Server

pytestmark = pytest.mark.llm


@pytest.fixture()
def page(browser: Browser, llm_server: Server) -> Iterator[Page]:
    with ui_page(browser, llm_server.url, 1280, 900) as page:
        yield page


def test_ask_shows_answer_and_cited_passage(page: Page, tmp_path: Path) -> None:
    page.locator("#question textarea").fill("Where did Maher al-Assad flee to?")
    page.locator("#ask").click()
    source = page.locator("#sources .source").first
    expect(source).to_be_visible(timeout=180_000)
    expect(source).to_contain_text(ARTICLE.name)
    expect(source.locator("mark")).to_contain_text("fled to Iraq")
    expect(page.locator("#chat")).to_contain_text("Iraq")
    link = page.locator("#chat a[href='#source-1']")
    expect(link).to_have_text("[1]")
    page.screenshot(path=tmp_path / "ui-answer.png", full_page=True)
    assert (tmp_path / "ui-answer.png").stat().st_size > 10_000


def test_an_abstention_says_why_and_shows_the_nearest_passages(page: Page) -> None:
    page.locator("#question textarea").fill("Which team did Maher al-Assad coach in the Bundesliga?")
    page.locator("#ask").click()
    chat = page.locator("#chat")
    expect(chat).to_contain_text("The documents do not say.", timeout=180_000)
    expect(chat).to_contain_text("The documents never mention 'bundesliga'.")
    expect(page.locator("#sources")).to_contain_text("Not cited: the passages nearest the question")
    expect(page.locator("#sources .source").first).to_contain_text(ARTICLE.name)
    expect(page.locator("#sources mark")).to_have_count(0)  # nothing is highlighted as cited


def test_follow_up_question_is_understood_in_context(page: Page) -> None:
    ask = page.locator("#question textarea")
    ask.fill("Where did Maher al-Assad flee to?")
    page.locator("#ask").click()
    expect(page.locator("#sources .source").first).to_contain_text("fled to Iraq", timeout=180_000)
    ask.fill("Where did his brother fly first?")
    page.locator("#ask").click()
    # rewritten with the conversation into "Where did Maher al-Assad's brother fly first?"
    expect(page.locator("#chat")).to_contain_text("Russian military base", timeout=180_000)


def test_first_open_offers_checked_example_questions(page: Page, llm_server: Server) -> None:
    """The server prepares one example question (RAG_EXAMPLES=1) that the bot answers with a citation."""
    deadline = time.monotonic() + 300
    with llm_server.client() as client:
        while not (examples := client.get("/api/info").json()["examples"]):
            assert time.monotonic() < deadline, "no example question prepared"
            time.sleep(2)
    page.reload()
    example = page.locator("#chat").get_by_role("button").filter(has_text=examples[0])
    expect(example).to_be_visible(timeout=30_000)
    example.click()
    expect(page.locator("#chat")).to_contain_text(examples[0])
    expect(page.locator("#sources .source").first).to_be_visible(timeout=180_000)


def test_settings_switch_generator_and_top_k(page: Page) -> None:
    page.locator("#settings").get_by_text("Settings").click()
    page.locator("#top-k input[type=number]").fill("2")
    page.locator("#generator input").click()
    page.get_by_role("option", name="extractive").click()
    page.locator("#question textarea").fill("Which city did the rebels seize, heightening fears for the capital?")
    page.locator("#ask").click()
    # The extractive generator quotes the article's sentence as it is.
    expect(page.locator("#chat")).to_contain_text(
        "Panic swept through Damascus as rebels seized control of Homs", timeout=180_000
    )


def test_evaluation_tab_runs_a_set_and_shows_table_and_chart(page: Page, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Evaluation").click()
    expect(page.locator("#evalset input")).to_have_value("seed.jsonl")
    page.get_by_label("First N questions (empty: all)").fill("2")
    page.locator("#run-eval").click()
    expect(page.locator("#eval-table")).to_contain_text("accuracy", timeout=300_000)
    expect(page.locator("#eval-summary")).to_contain_text("seed.jsonl: 2 questions")
    expect(page.locator("#eval-chart svg")).to_be_visible()
    page.screenshot(path=tmp_path / "ui-eval.png", full_page=True)


def test_upload_list_and_delete_a_document(page: Page, llm_server: Server, tmp_path: Path) -> None:
    doc = tmp_path / "lighthouse.txt"
    doc.write_text("The lighthouse of Port Ellery was painted green in 1911 by the harbour master, Ada Quill.\n")
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files(doc)
    expect(page.locator("#upload-status")).to_contain_text("lighthouse.txt: added", timeout=60_000)
    expect(page.locator("#documents")).to_contain_text("lighthouse.txt")
    assert (llm_server.corpus / "lighthouse.txt").exists()

    page.get_by_label("Document").click()
    page.get_by_role("option", name="lighthouse.txt").click()
    page.get_by_role("button", name="Delete document").click()
    expect(page.locator("#upload-status")).to_contain_text("Deleted lighthouse.txt", timeout=60_000)
    expect(page.locator("#documents")).not_to_contain_text("lighthouse.txt")
    assert not (llm_server.corpus / "lighthouse.txt").exists()
    page.screenshot(path=tmp_path / "ui-documents.png", full_page=True)
