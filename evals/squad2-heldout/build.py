"""Build squad2-heldout from the SQuAD 2.0 dev file (not needed at run time; the output is committed).

    .venv/bin/python evals/squad2-heldout/build.py PATH/TO/dev-v2.0.json

The input is the CS224N 2019 SQuAD 2.0 dev split (16 articles), the file the shared
squad2-dev-subset was drawn from. Deterministic: the same input gives the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SEED = 2025

# The 12 dev articles not in the shared squad2-dev-subset (1973_oil_crisis, French_and_Indian_War,
# Huguenot, Normans), sorted and shuffled with random.Random(2025): the first five are this set's, the
# next five wiki-out-of-corpus's. The first two here are dev, the other three test: split by article.
DEV_ARTICLES = ["Islamism", "Imperialism"]
TEST_ARTICLES = ["Steam_engine", "Warsaw", "Immune_system"]
PARAGRAPHS = 12  # per article: 60 documents
ANSWERABLE = 12  # questions per article
UNANSWERABLE = 8


def distinct(values: list[str]) -> list[str]:
    """Strings in first-seen order, stripped, without repeats."""
    out: list[str] = []
    for v in (v.strip() for v in values):
        if v and v not in out:
            out.append(v)
    return out


def build(squad: Path) -> dict[str, Any]:
    data = {a["title"]: a for a in json.loads(squad.read_text(encoding="utf-8"))["data"]}
    rng = random.Random(SEED)
    docs, meta, questions = {}, [], []
    for title in DEV_ARTICLES + TEST_ARTICLES:
        split = "dev" if title in DEV_ARTICLES else "test"
        paragraphs = data[title]["paragraphs"]
        chosen = sorted(rng.sample(range(len(paragraphs)), PARAGRAPHS))
        answerable, unanswerable = [], []
        for index in chosen:
            doc_id = f"{title}__p{index:03d}"
            context = paragraphs[index]["context"]
            docs[doc_id] = context
            meta.append({"doc_id": doc_id, "title": title, "paragraph": index, "split": split})
            for qa in paragraphs[index]["qas"]:
                (unanswerable if qa.get("is_impossible") else answerable).append((doc_id, context, qa))
        for doc_id, context, qa in rng.sample(answerable, ANSWERABLE):
            spans = [[a["text"], a["answer_start"]] for a in qa["answers"]]
            assert all(context[s : s + len(t)] == t for t, s in spans), qa["id"]
            questions.append(
                {
                    "id": f"squad2-{qa['id']}",
                    "question": qa["question"].strip(),
                    "answers": distinct([a["text"] for a in qa["answers"]]),  # every accepted answer
                    "supporting_doc_ids": [doc_id],
                    "kind": "answerable",
                    "split": split,
                    "title": title,
                    "answer_spans": spans,
                }
            )
        for doc_id, _, qa in rng.sample(unanswerable, UNANSWERABLE):
            questions.append(
                {
                    "id": f"squad2-{qa['id']}",
                    "question": qa["question"].strip(),
                    "answers": [],
                    "supporting_doc_ids": [],
                    "kind": "unanswerable",
                    "split": split,
                    "title": title,
                    "adversarial_doc_id": doc_id,
                    "plausible_answers": distinct([a["text"] for a in qa.get("plausible_answers", [])]),
                }
            )
    return {"docs": docs, "meta": meta, "questions": questions}


def write(built: dict[str, Any]) -> None:
    shutil.rmtree(HERE / "docs", ignore_errors=True)
    (HERE / "docs").mkdir()
    for doc_id, text in built["docs"].items():
        (HERE / "docs" / f"{doc_id}.txt").write_text(text + "\n", encoding="utf-8")
    for name, rows in (("docs-meta.jsonl", built["meta"]), ("questions.jsonl", built["questions"])):
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (HERE / name).write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squad_dev", type=Path, help="dev-v2.0.json")
    built = build(parser.parse_args().squad_dev)
    write(built)
    print(f"{len(built['docs'])} documents, {len(built['questions'])} questions in {HERE}")


if __name__ == "__main__":
    main()
