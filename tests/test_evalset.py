"""Loading eval sets: both gold-support forms, manifests with relative paths, one-line errors."""

import json
import tomllib
from pathlib import Path

import pytest

from rag.evalset import load_evalset
from tests.conftest import ROOT


def write_jsonl(path: Path, rows: list[dict[str, object] | str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_the_seed_set_loads_with_evidence_quotes() -> None:
    spec = load_evalset(ROOT / "evals" / "seed.jsonl")
    assert spec.name == "seed" and spec.corpus is None
    assert len(spec.items) == 42 and sum(i.answerable for i in spec.items) == 31
    assert all(i.evidence for i in spec.items if i.answerable)


def test_both_forms_of_gold_support(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "set.jsonl",
        [
            {"id": "q1", "question": "Where?", "answers": ["Iraq"], "evidence": ["fled to Iraq"]},
            {"id": "q2", "question": "Who?", "answers": ["Voss"], "supporting_doc_ids": ["museum"], "extra": 1},
            {"id": "q3", "question": "When?", "answers": ["1998"], "sources": ["museum.txt"]},
            {"id": "q4", "question": "Why?", "answers": []},
            "",
        ],
    )
    q1, q2, q3, q4 = load_evalset(path).items
    assert q1.support_units() == 1 and q2.documents == ["museum"] and q3.documents == ["museum.txt"]
    assert not q4.answerable and q4.support_units() == 0
    assert q2.supported_by("Clara Voss founded it.", "museum.txt") == {0}
    assert q3.supported_by("It opened in 1998.", "museum.txt") == {0}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "set.jsonl:2: not JSON"),
        (json.dumps({"id": "q9", "answers": []}), "set.jsonl:2: question: Field required"),
        (json.dumps({"id": "q9", "question": "Q?", "answers": "Iraq"}), "set.jsonl:2: answers: Input should be"),
        (json.dumps({"id": "q1", "question": "Again?"}), "set.jsonl:2: duplicate id 'q1'"),
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "set.jsonl", [{"id": "q1", "question": "Where?"}, line])
    with pytest.raises(ValueError, match=message):
        load_evalset(path)


def test_an_empty_set_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no questions"):
        load_evalset(write_jsonl(tmp_path / "set.jsonl", [""]))


def test_a_manifest_points_at_questions_and_corpus_relative_to_itself(tmp_path: Path) -> None:
    data = tmp_path / "shared" / "bench"
    (data / "docs").mkdir(parents=True)
    write_jsonl(data / "questions.jsonl", [{"id": "q1", "question": "Who?", "answers": ["Voss"]}])
    folder = tmp_path / "repo" / "evals" / "bench"
    folder.mkdir(parents=True)
    (folder / "evalset.toml").write_text(
        'questions = "../../../shared/bench/questions.jsonl"\ncorpus = "../../../shared/bench/docs"\n'
    )
    spec = load_evalset(folder)
    assert spec.name == "bench" and spec.corpus == (data / "docs").resolve() and len(spec.items) == 1
    assert load_evalset(folder / "evalset.toml").path == (data / "questions.jsonl").resolve()


def test_a_manifest_whose_data_is_missing_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "evalset.toml").write_text('questions = "../nowhere/questions.jsonl"\n')
    with pytest.raises(FileNotFoundError, match=r"questions file not found: .*nowhere/questions.jsonl"):
        load_evalset(tmp_path)
    (tmp_path / "evalset.toml").write_text("questions = 3\n")
    with pytest.raises(ValueError, match="needs questions"):
        load_evalset(tmp_path)
    with pytest.raises(FileNotFoundError, match="no eval set manifest"):
        load_evalset(tmp_path / "empty-folder-that-is-not-there" / "x.toml")


def test_the_squad_manifest_points_at_the_shared_dataset() -> None:
    manifest = ROOT / "evals" / "squad2-dev-subset" / "evalset.toml"
    spec = tomllib.loads(manifest.read_text())
    shared = (ROOT.parent / "shared" / "datasets" / "squad2-dev-subset").resolve()
    assert (manifest.parent / spec["questions"]).resolve() == shared / "questions.jsonl"
    assert (manifest.parent / spec["corpus"]).resolve() == shared / "docs"
