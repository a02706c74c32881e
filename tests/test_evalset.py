"""Loading eval sets: both gold-support forms, manifests with relative paths, one-line errors, splits and
kinds; the committed sets' files; ``rag eval --split``."""

import importlib.util
import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from rag.config import Settings
from rag.evalset import load_evalset
from rag.terms import fold
from tests.conftest import ROOT
from tests.test_cli import Run, rag


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


# --- Splits and kinds -------------------------------------------------------------------------------

SETS = ROOT / "evals"
SPLITS = ("dev", "test")
NEW_SETS = ["squad2-heldout", "covidqa-long", "wiki-out-of-corpus"]


def split_set(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "set.jsonl",
        [
            {"id": "d1", "question": "Where?", "answers": ["Iraq"], "split": "dev"},
            {"id": "t1", "question": "Who?", "answers": ["Voss"], "split": "test"},
            {"id": "t2", "question": "Why?", "answers": [], "split": "test", "kind": "out_of_corpus"},
            {"id": "n1", "question": "When?", "answers": ["1998"]},
        ],
    )


def test_a_split_keeps_its_questions_and_says_so_in_the_name(tmp_path: Path) -> None:
    path = split_set(tmp_path)
    everything = load_evalset(path)
    assert [i.id for i in everything.items] == ["d1", "t1", "t2", "n1"] and everything.split is None
    dev, test = load_evalset(path, split="dev"), load_evalset(path, split="test")
    assert [i.id for i in dev.items] == ["d1"] and dev.name == "set@dev" and dev.split == "dev"
    assert [i.id for i in test.items] == ["t1", "t2"] and test.name == "set@test"
    assert [i.kind for i in test.items] == ["answerable", "out_of_corpus"]
    with pytest.raises(ValueError, match="unknown split 'train'; choose from dev, test"):
        load_evalset(path, split="train")


def test_a_missing_split_is_a_clear_error(tmp_path: Path) -> None:
    only_dev = write_jsonl(tmp_path / "dev.jsonl", [{"id": "q1", "question": "Q?", "split": "dev"}])
    with pytest.raises(ValueError, match=r"eval set dev has no questions in split 'test' \(its splits: dev\)"):
        load_evalset(only_dev, split="test")
    unsplit = write_jsonl(tmp_path / "plain.jsonl", [{"id": "q1", "question": "Q?"}])
    with pytest.raises(ValueError, match=r"no questions in split 'dev' \(its questions have no split field\)"):
        load_evalset(unsplit, split="dev")


def test_kind_defaults_from_answers_and_must_agree_with_them(tmp_path: Path) -> None:
    a, u = load_evalset(
        write_jsonl(
            tmp_path / "k.jsonl", [{"id": "a", "question": "Q?", "answers": ["x"]}, {"id": "u", "question": "Q?"}]
        )
    ).items
    assert (a.kind, u.kind) == ("answerable", "unanswerable")
    for row, message in [
        ({"kind": "answerable", "answers": []}, "kind 'answerable' needs answers"),
        ({"kind": "out_of_corpus", "answers": ["x"]}, "kind 'out_of_corpus' must have no answers"),
        ({"kind": "tricky"}, "kind: Input should be 'answerable', 'unanswerable' or 'out_of_corpus'"),
        ({"split": "train"}, "split: Input should be 'dev' or 'test'"),
    ]:
        path = write_jsonl(tmp_path / "bad.jsonl", [{"id": "q", "question": "Q?", **row}])
        with pytest.raises(ValueError, match=f"bad.jsonl:1: .*{message}"):
            load_evalset(path)


def test_a_manifest_can_put_every_unsplit_question_in_one_split(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "q.jsonl", [{"id": "q1", "question": "Q?"}, {"id": "q2", "question": "Q?", "split": "test"}])
    (tmp_path / "evalset.toml").write_text('questions = "q.jsonl"\nsplit = "dev"\n')
    assert [i.split for i in load_evalset(tmp_path).items] == ["dev", "test"]
    (tmp_path / "evalset.toml").write_text('questions = "q.jsonl"\nsplit = "holdout"\n')
    with pytest.raises(ValueError, match="split must be one of dev, test, not 'holdout'"):
        load_evalset(tmp_path)


def test_the_shared_squad_subset_is_dev_only() -> None:
    spec = tomllib.loads((SETS / "squad2-dev-subset" / "evalset.toml").read_text())
    assert spec["split"] == "dev"


def test_the_seed_set_is_split_about_40_60_within_each_kind() -> None:
    items = load_evalset(SETS / "seed.jsonl").items
    assert len(items) == 42 and all(i.split in ("dev", "test") for i in items)
    for kind in ("answerable", "unanswerable", "out_of_corpus"):
        of_kind = [i for i in items if i.kind == kind]
        dev = sum(i.split == "dev" for i in of_kind)
        assert of_kind and 0.3 <= dev / len(of_kind) <= 0.5, kind
    assert {i.id for i in items if i.kind == "out_of_corpus"} == {"seed-u01", "seed-u11"}


def rows_of(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (SETS / name / "questions.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", NEW_SETS)
def test_each_new_set_loads_with_both_splits_and_its_gold_in_its_corpus(name: str) -> None:
    spec = load_evalset(SETS / name)
    assert spec.name == name and spec.corpus == (SETS / name / "docs").resolve()
    assert 60 <= len(spec.items) <= 120 and all(i.split and i.kind for i in spec.items)
    dev, test = load_evalset(SETS / name, "dev").items, load_evalset(SETS / name, "test").items
    assert 0.35 <= len(dev) / len(spec.items) <= 0.45 and len(dev) + len(test) == len(spec.items)
    for kind in {i.kind for i in spec.items}:  # stratified: every kind is in both splits
        assert any(i.kind == kind for i in dev) and any(i.kind == kind for i in test)
    docs = {p.stem: p.read_text(encoding="utf-8") for p in spec.corpus.glob("*.txt")}
    assert 5 <= len(docs) <= 60 and sum(map(len, docs.values())) < 1_000_000
    for item in spec.items:
        assert all(d in docs for d in item.supporting_doc_ids), item.id
        assert all(any(q in docs[d] for d in item.supporting_doc_ids) for q in item.evidence), item.id
        # The gold answer is in the text that supports it: the quote, or else the document.
        support = item.evidence or [docs[d] for d in item.supporting_doc_ids]
        assert not item.answers or any(a in text for a in item.answers for text in support), item.id


@pytest.mark.parametrize("name", NEW_SETS)
def test_test_questions_are_about_documents_dev_never_asks_about(name: str) -> None:
    def documents(split: str) -> set[str]:
        rows = [r for r in rows_of(name) if r["split"] == split]
        return {d for r in rows for d in [*r.get("supporting_doc_ids", []), r.get("adversarial_doc_id")] if d}

    assert documents("dev") and documents("test") and not documents("dev") & documents("test")


def test_out_of_corpus_questions_share_no_key_term_or_answer_with_the_corpus() -> None:
    corpus = " ".join(p.read_text(encoding="utf-8") for p in (SETS / "wiki-out-of-corpus" / "docs").glob("*.txt"))
    words = set(re.findall(r"[a-z0-9]+", corpus.lower()))
    ooc = [r for r in rows_of("wiki-out-of-corpus") if r["kind"] == "out_of_corpus"]
    assert len(ooc) == 40
    for row in ooc:
        assert row["answers"] == [] and row["key_terms"], row["id"]
        assert not set(row["key_terms"]) & words, row["id"]
        assert not any(re.search(rf"\b{re.escape(a.lower())}\b", corpus.lower()) for a in row["nq_answers"]), row["id"]


def test_the_eval_command_runs_one_split_and_refuses_a_missing_one(
    settings: Settings, tmp_path: Path, corpus: Path
) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    write_jsonl(
        folder / "questions.jsonl",
        [
            {"id": "d1", "question": "Where did Maher al-Assad flee to?", "answers": ["Iraq"], "split": "dev"},
            {"id": "t1", "question": "Where did Maher al-Assad flee to?", "answers": ["Iraq"], "split": "test"},
            {"id": "t2", "question": "Who won the 2022 World Cup?", "split": "test", "kind": "out_of_corpus"},
        ],
    )
    (folder / "evalset.toml").write_text(f'questions = "questions.jsonl"\ncorpus = "{corpus}"\n')

    def rag_eval(*args: str) -> Run:
        return rag(settings, "eval", str(folder), "--json", *args)

    ran = rag_eval("--split", "test", "--out", str(tmp_path / "out"))
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["config"]["evalset"] == "set@test" and report["config"]["questions"] == 2
    ids = {json.loads(line)["id"] for line in (tmp_path / "out" / "records.jsonl").read_text().splitlines()}
    assert ids == {"t1", "t2"}

    (folder / "evalset.toml").write_text(f'questions = "questions.jsonl"\ncorpus = "{corpus}"\nsplit = "dev"\n')
    write_jsonl(folder / "questions.jsonl", [{"id": "d1", "question": "Where?", "answers": ["Iraq"]}])
    refused = rag_eval("--split", "test")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert json.loads(refused.stdout)["error"] == "eval set set has no questions in split 'test' (its splits: dev)"
    wrong = rag_eval("--split", "holdout")
    said = " ".join(re.sub("[│╭╮╰╯─]", " ", wrong.stderr).split())  # typer draws a box around it
    assert wrong.returncode == 2 and "Invalid value for '--split'" in said and "'dev', 'test'" in said


@pytest.mark.parametrize("name", ["wiki-background", "wiki-polite"])
def test_a_rephrased_set_is_wiki_out_of_corpus_reworded_and_is_what_its_script_builds(name: str) -> None:
    spec = importlib.util.spec_from_file_location("rephrase", SETS / "rephrase.py")
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    assert build.rows(name) == rows_of(name)
    plain = {r["id"]: r for r in rows_of("wiki-out-of-corpus")}
    loaded = load_evalset(SETS / name)
    assert loaded.corpus == (SETS / "wiki-out-of-corpus" / "docs").resolve() and len(loaded.items) == len(plain)
    prefix, phrases, rephrase = build.SETS[name]
    for row in rows_of(name):
        source = plain[str(row["id"]).removeprefix(prefix + "-")]
        split = str(row["split"])
        assert row["question"] in {rephrase(str(source["question"]), p) for p in phrases[split]}
        assert row["question"] != source["question"]
        assert {k: v for k, v in row.items() if k not in ("id", "question")} == {
            k: v for k, v in source.items() if k not in ("id", "question")
        }
    assert not set(phrases["dev"]) & set(phrases["test"])


def test_the_yes_no_set_asks_one_yes_and_one_no_per_paragraph_split_by_article() -> None:
    spec = load_evalset(SETS / "yesno")
    assert spec.corpus == (SETS / "squad2-heldout" / "docs").resolve() and len(spec.items) == 40
    docs = {p.stem: p.read_text(encoding="utf-8") for p in spec.corpus.glob("*.txt")}
    answers: dict[str, list[str]] = {}
    for item in spec.items:
        (doc,) = item.supporting_doc_ids
        assert item.kind == "answerable" and item.answers in (["yes"], ["no"]), item.id
        assert len(item.evidence) == 1 and item.evidence[0] in docs[doc], item.id  # the deciding sentence
        answers.setdefault(doc, []).extend(item.answers)
    assert all(sorted(a) == ["no", "yes"] for a in answers.values())
    titles = {split: {r["title"] for r in rows_of("yesno") if r["split"] == split} for split in ("dev", "test")}
    assert titles == {"dev": {"Imperialism", "Islamism"}, "test": {"Immune_system", "Steam_engine", "Warsaw"}}


def test_the_fresh_article_set_has_its_gold_in_the_article_and_no_answer_for_the_rest() -> None:
    spec = load_evalset(SETS / "article-fresh")
    assert spec.corpus == (ROOT / "corpus").resolve() and len(spec.items) == 60
    article = (ROOT / "corpus" / "syria-assad-fall.txt").read_text(encoding="utf-8")
    for item in spec.items:
        if item.kind == "answerable":
            assert item.evidence and all(e in article for e in item.evidence), item.id  # verbatim
            assert any(fold(a) in fold(" ".join(item.evidence)) for a in item.answers), item.id
        else:
            assert not item.answers and not item.evidence, item.id
    counts = Counter((i.kind, i.split) for i in spec.items)
    assert counts == {
        (kind, split): n
        for kind, n in (("answerable", 18), ("unanswerable", 7), ("out_of_corpus", 5))
        for split in ("dev", "test")
    }


@pytest.mark.parametrize(("name", "source"), [("wiki-fresh", "wiki-out-of-corpus"), ("covid-fresh", "covidqa-long")])
def test_a_fresh_set_is_split_by_article_with_its_gold_in_the_named_article(name: str, source: str) -> None:
    spec = load_evalset(SETS / name)
    assert spec.corpus == (SETS / source / "docs").resolve() and len(spec.items) == 60
    docs = {p.stem: p.read_text(encoding="utf-8") for p in spec.corpus.glob("*.txt")}
    for item in spec.items:
        if item.kind == "answerable":
            (doc,) = item.supporting_doc_ids
            assert item.evidence and all(e in docs[doc] for e in item.evidence), item.id
            assert any(fold(a) in fold(" ".join(item.evidence)) for a in item.answers), item.id
        else:
            assert not item.answers and not item.evidence, item.id
    # no test question is about a dev article, and the articles are on the same side as in the source set
    about = {
        split: {d for r in rows_of(name) if r["split"] == split for d in r["supporting_doc_ids"]} for split in SPLITS
    }
    source_about = {
        split: {d for r in rows_of(source) if r["split"] == split for d in r.get("supporting_doc_ids", [])}
        for split in SPLITS
    }
    assert about["dev"] and about["test"] and not about["dev"] & about["test"]
    assert about["dev"] <= source_about["dev"] and about["test"] <= source_about["test"]
