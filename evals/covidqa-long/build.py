"""Build covidqa-long from a COVID-QA annotation file (not needed at run time; the output is committed).

    .venv/bin/python evals/covidqa-long/build.py PATH/TO/200423_covidQA.json

COVID-QA (Möller et al., 2020) is SQuAD-style: one whole scientific article per context, questions
written by biomedical experts, each answer a span of the article. This keeps CC BY articles of a few
pages, and questions whose answer is a short span (so "the answer contains the gold answer" means
something) inside a sentence that fits in one chunk (so the evidence quote can be matched).
Deterministic: the same input gives the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from rag.chunking import sentence_spans

HERE = Path(__file__).resolve().parent
SEED = 2025
MIN_CHARS, MAX_CHARS = 8_000, 40_000  # a few pages each (about 3,000 characters a page)
MAX_CORPUS = 800_000  # characters, so a 2-core CPU indexes it in a few minutes
PER_DOC = 3  # questions per article at most
MAX_ANSWER_WORDS = 6
MAX_EVIDENCE = 330  # characters: a sentence that fits in one chunk (350 by default) whole
DEV_SHARE = 0.4  # of the articles; a question is in the split of its article
LICENCE = re.compile(r"^License:\s*(\S+)", re.MULTILINE)
TRIM = " \t\n,.;:"
# Questions that only make sense next to their own article ("How many patients were studied?") have no
# single answer in a corpus of 35 articles; yes/no questions have no span to contain.
THIS_ARTICLE = re.compile(
    r"\b(the|this|that) (study|studies|sample|samples|model|assay|paper|article|survey|authors?|experiments?)\b",
    re.IGNORECASE,
)
YES_NO = re.compile(r"^(is|was|were|are|does|do|did|can|could|has|have|will|should)\b", re.IGNORECASE)
# Read and dropped (ids of the source file): the gold answer does not answer the question, or the
# question needs its own article to make sense.
EXCLUDE = {
    1197: "asks when, gold is a place",
    2191: "the gold sentence is about the CDC, not the WHO",
    2968: "one of many estimates in the corpus",
    2980: "needs its article",
    2505: "needs its article",
    3648: "needs its article",
    3714: "needs its article",
    3726: "needs its article",
    3898: "needs its article",
    2504: "needs its article",
    3267: "needs its article",
    3621: "needs its article",
    3020: "needs its article",
    2519: "the gold span cuts the phrase (for over 300 [years])",
    3027: "needs its article",
    3017: "needs its article",
}


def aliases(answer: str) -> list[str]:
    """The answer, and for "long form (SHORT)" each of the two forms, which the article itself equates."""
    out = [answer]
    m = re.fullmatch(r"(.+?)\s*\(([^()]{2,})\)", answer)
    if m:
        out += [m.group(1).strip(), m.group(2).strip()]
    return out


def candidate(context: str, qa: dict[str, Any]) -> dict[str, Any] | None:
    """A question with its trimmed answer and evidence sentence, or None if it does not qualify."""
    question = " ".join(qa["question"].split())
    if qa.get("is_impossible") or not qa["answers"] or qa["id"] in EXCLUDE:
        return None
    if THIS_ARTICLE.search(question) or YES_NO.match(question):
        return None
    raw, start = qa["answers"][0]["text"], qa["answers"][0]["answer_start"]
    if context[start : start + len(raw)] != raw:
        return None  # offset and text disagree
    lead = len(raw) - len(raw.lstrip(TRIM))
    text = raw.strip(TRIM)
    start += lead
    end = start + len(text)
    words = text.split()
    if not text or len(words) > MAX_ANSWER_WORDS or (len(text) < 2):
        return None
    # The span must start and end on word boundaries: annotators sometimes cut a word.
    if (start > 0 and context[start - 1].isalnum()) or (end < len(context) and context[end].isalnum()):
        return None
    inside = [(s, e) for s, e in sentence_spans(context) if s <= start and end <= e]
    if not inside or inside[0][1] - inside[0][0] > MAX_EVIDENCE:
        return None
    return {
        "question": question,
        "answer": text,
        "evidence": context[inside[0][0] : inside[0][1]],
        "answer_start": start,
        "qa_id": qa["id"],
    }


def build(covidqa: Path) -> dict[str, Any]:
    articles = [a["paragraphs"][0] for a in json.loads(covidqa.read_text(encoding="utf-8"))["data"]]
    asked = Counter(" ".join(qa["question"].lower().split()) for a in articles for qa in a["qas"])
    rng = random.Random(SEED)
    eligible = []
    for a in sorted(articles, key=lambda a: int(a["document_id"])):
        context = a["context"]
        licence = LICENCE.search(context[:2000])
        if not licence or licence.group(1).lower() != "cc-by" or not MIN_CHARS <= len(context) <= MAX_CHARS:
            continue
        found = [c for qa in a["qas"] if (c := candidate(context, qa))]
        # A question asked of several articles ("What is PPE?") has no single gold document.
        found = [c for c in found if asked[c["question"].lower()] == 1]
        if len(found) >= 2:
            eligible.append((a, found))
    rng.shuffle(eligible)
    chosen, total = [], 0
    for a, found in eligible:
        if total + len(a["context"]) <= MAX_CORPUS:
            chosen.append((a, found))
            total += len(a["context"])
    n_dev = round(DEV_SHARE * len(chosen))
    docs, meta, questions = {}, [], []
    for n, (a, found) in enumerate(chosen):
        split = "dev" if n < n_dev else "test"
        doc_id = f"covidqa-{int(a['document_id']):04d}"
        context = a["context"]
        lines = context.splitlines()
        docs[doc_id] = context
        meta.append(
            {
                "doc_id": doc_id,
                "title": lines[0].strip(),
                "url": next((line.strip() for line in lines[:5] if line.startswith("http")), None),
                "licence": "cc-by",
                "chars": len(context),
                "split": split,
            }
        )
        # Each article draws its questions with its own generator: excluding one question changes no other.
        for c in random.Random(f"{SEED}-{doc_id}").sample(found, min(PER_DOC, len(found))):
            questions.append(
                {
                    "id": f"covidqa-{c['qa_id']}",
                    "question": c["question"],
                    "answers": aliases(c["answer"]),
                    "evidence": [c["evidence"]],
                    "supporting_doc_ids": [doc_id],
                    "kind": "answerable",
                    "split": split,
                    "answer_spans": [[c["answer"], c["answer_start"]]],
                }
            )
    return {"docs": docs, "meta": meta, "questions": questions}


def write(built: dict[str, Any]) -> None:
    shutil.rmtree(HERE / "docs", ignore_errors=True)
    (HERE / "docs").mkdir()
    for doc_id, text in built["docs"].items():
        (HERE / "docs" / f"{doc_id}.txt").write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    for name, rows in (("docs-meta.jsonl", built["meta"]), ("questions.jsonl", built["questions"])):
        lines = (json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (HERE / name).write_text("".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("covidqa", type=Path, help="a COVID-QA annotation file, e.g. 200423_covidQA.json")
    built = build(parser.parse_args().covidqa)
    write(built)
    chars = sum(len(t) for t in built["docs"].values())
    print(f"{len(built['docs'])} documents ({chars} characters), {len(built['questions'])} questions in {HERE}")


if __name__ == "__main__":
    main()
