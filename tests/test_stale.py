"""Citations that notice change: an answer records what it cites (file hash, index version), and
POST /api/citations/check tells later, per citation, whether that source changed or went since.
Real index, embedder and app; documents changed the ways people change them (upload, edit and
re-ingest, delete)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from rag.factory import build_store
from rag.store import document_id
from tests.test_viewer import AUTH, FERRY, LIGHTHOUSE, NOTES, Site, open_site, report_pdf


@pytest.fixture()
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with open_site(tmp_path_factory.mktemp("stale"), {"report.pdf": report_pdf(), "notes.md": NOTES}) as s:
        yield s


def check(site: Site, citations: list[dict[str, Any]]) -> dict[str, Any]:
    r = site.client.post("/api/citations/check", json={"citations": citations}, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_answer_records_what_it_cites(site: Site) -> None:
    answer = site.ask(LIGHTHOUSE)
    (cite,) = answer["citations"]
    data = (site.corpus / "report.pdf").read_bytes()
    assert cite["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert cite["index_version"] == build_store(site.settings).version() != ""
    assert cite["stale"] is False
    result = check(site, answer["citations"])  # the answer's citations as they are, every field
    assert result["index_version"] == cite["index_version"]
    assert result["citations"] == [
        {
            "n": 1,
            "source": "report.pdf",
            "chunk_id": cite["chunk_id"],
            "document_id": document_id("report.pdf"),
            "stale": False,
            "reason": None,
        }
    ]


def test_an_abstention_records_its_nearest_passages_too(site: Site) -> None:
    answer = site.ask("Which team did Ada Quill coach in the Bundesliga?")
    assert answer["abstained"] and answer["nearest"], answer
    assert all(c["file_sha256"] and c["index_version"] for c in answer["nearest"])


def test_editing_a_cited_file_and_ingesting_again_makes_only_its_citations_stale(site: Site) -> None:
    lighthouse = site.ask(LIGHTHOUSE)["citations"]
    ferry = site.ask(FERRY)["citations"]
    assert lighthouse[0]["source"] == "report.pdf" and ferry[0]["source"] == "notes.md"

    (site.corpus / "notes.md").write_text(NOTES.replace("at nine", "at ten"))
    site.ingest()  # rag ingest: the index version changes for every citation, the file hash for one

    result = check(site, [*lighthouse, *ferry])
    assert result["index_version"] != lighthouse[0]["index_version"]
    assert [(c["source"], c["stale"], c["reason"]) for c in result["citations"]] == [
        ("report.pdf", False, None),
        ("notes.md", True, "changed"),
    ]
    # The old passage is gone from the index: the viewer says so instead of showing another text.
    gone = site.view(ferry[0])
    assert gone.status_code == 404 and "changed since" in gone.json()["detail"]
    # Asked again, the answer cites the new text, fresh.
    again = site.ask(FERRY)
    assert "ten" in again["answer"]
    assert check(site, again["citations"])["citations"][0]["stale"] is False


def test_an_upload_over_a_cited_file_makes_it_stale(site: Site) -> None:
    ferry = site.ask(FERRY)["citations"]
    new = NOTES.replace("It returns at six.", "It returns at seven.")
    r = site.client.post("/api/documents", files={"file": ("notes.md", new.encode())}, headers=AUTH)
    assert r.status_code == 200 and r.json()["file"]["status"] == "updated", r.text
    (result,) = check(site, ferry)["citations"]
    assert result["stale"] and result["reason"] == "changed"


def test_the_same_content_again_is_not_stale(site: Site) -> None:
    """Re-ingesting an unchanged file, or changing another, leaves a citation's source as it was."""
    ferry = site.ask(FERRY)["citations"]
    r = site.client.post("/api/documents", files={"file": ("extra.md", b"# Extra\n\nThe pier is new.\n")}, headers=AUTH)
    assert r.status_code == 201, r.text
    (result,) = check(site, ferry)["citations"]
    assert result["stale"] is False


def test_a_deleted_document_makes_its_citations_stale(site: Site) -> None:
    lighthouse = site.ask(LIGHTHOUSE)["citations"]
    r = site.client.delete(f"/api/documents/{document_id('report.pdf')}", headers=AUTH)
    assert r.status_code == 200, r.text
    (result,) = check(site, lighthouse)["citations"]
    assert result["stale"] and result["reason"] == "removed"
    gone = site.view(lighthouse[0])
    assert gone.status_code == 404 and "no document" in gone.json()["detail"]


def test_a_citation_without_a_hash_is_judged_by_its_passage(site: Site) -> None:
    """Answers kept from before citations carried a hash: stale once their passage left the index."""
    (cite,) = site.ask(FERRY)["citations"]
    old = {"n": 1, "source": cite["source"], "chunk_id": cite["chunk_id"]}
    assert check(site, [old])["citations"][0]["stale"] is False
    (site.corpus / "notes.md").write_text(NOTES.replace("at nine", "at ten"))
    site.ingest()
    assert check(site, [old])["citations"][0]["reason"] == "changed"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Field required"),
        ({"citations": [{"chunk_id": "x"}]}, "Field required"),
        ({"citations": "all"}, "valid list"),
        ({"citations": [{"n": True, "source": "a.txt"}]}, "valid integer"),
        ({"citations": [{"source": "a.txt", "file_sha256": "x" * 1000}]}, "at most 128 characters"),
        ({"citations": [{"source": "a.txt"}] * 501}, "at most 500 items"),
        ('{"citations": [{"source": "caf\\ud800.txt"}]}', "lone surrogate U+D800"),  # JSON allows it
    ],
)
def test_bad_check_requests_are_422(site: Site, body: dict | str, message: str) -> None:
    if isinstance(body, str):  # as sent, escapes and all
        headers = {**AUTH, "content-type": "application/json"}
        r = site.client.post("/api/citations/check", content=body.encode(), headers=headers)
    else:
        r = site.client.post("/api/citations/check", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert message in str(r.json()["detail"])


def test_a_citation_of_a_document_never_indexed_reads_removed(site: Site) -> None:
    fake = {"source": "../../etc/passwd", "chunk_id": "x", "file_sha256": "0" * 64, "index_version": "v"}
    (result,) = check(site, [fake])["citations"]
    assert result["stale"] and result["reason"] == "removed"
