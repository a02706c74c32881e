"""Build wiki-out-of-corpus (not needed at run time; the output is committed).

    .venv/bin/python evals/wiki-out-of-corpus/build.py PATH/TO/dev-v2.0.json PATH/TO/NQ-open.dev.jsonl \\
        --reference PATH/TO/test-v2.0.json

The corpus is five whole Wikipedia articles of the SQuAD 2.0 dev file (the CS224N 2019 split): every
paragraph SQuAD kept, in order, under the title. Answerable questions are SQuAD's own about them;
out-of-corpus questions are NQ-open dev questions whose answers and key terms occur nowhere in the
corpus, checked here word by word. Deterministic: the same inputs give the same files.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

from rag.chunking import sentence_spans

HERE = Path(__file__).resolve().parent
SEED = 2025

# The 12 dev articles not in the shared squad2-dev-subset, sorted and shuffled with random.Random(2025):
# the first five are squad2-heldout's, these the next five. Dev: the first two; test: the other three.
DEV_ARTICLES = ["Harvard_University", "Yuan_dynasty"]
TEST_ARTICLES = ["Computational_complexity_theory", "Force", "Packet_switching"]
ANSWERABLE = 12  # questions per article
OUT_OF_CORPUS = 40
OOC_DEV = 16  # 40% of them
MAX_EVIDENCE = 330  # characters: a quote that fits in one chunk (350 by default) whole
GENERIC_SHARE = 0.5  # a word in at least half the reference articles is generic English, not a key term

_STOPWORDS = """a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom whose why will with would you your yours yourself
    yourselves get got gets many much one two three first last name called known"""
STOPWORDS = set(_STOPWORDS.split())


def words(text: str) -> list[str]:
    """Lower-case word tokens, accents folded (so "Kublai" and "Küblai" meet)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.findall(r"[a-z0-9]+", folded)


def normalize(text: str) -> str:
    """SQuAD-style: lower case, punctuation and articles removed, whitespace collapsed."""
    return " ".join(w for w in words(text) if w not in {"a", "an", "the"})


def stem(word: str) -> str:
    """A light suffix strip, so a plural or a past tense in a question meets its stem in the corpus."""
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ing", ""), ("ed", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + repl
    return word


def key_terms(text: str, generic: set[str]) -> set[str]:
    """Numbers, and words that are neither stop words nor generic English (names, rare words)."""
    return {
        w
        for w in words(text)
        if any(c.isdigit() for c in w) or (len(w) >= 3 and w not in STOPWORDS and w not in generic)
    }


def generic_words(articles: list[list[str]]) -> set[str]:
    """Words found in at least GENERIC_SHARE of the reference articles (each a list of paragraphs)."""
    df = Counter(w for paragraphs in articles for w in {w for p in paragraphs for w in words(p)})
    return {w for w, n in df.items() if n >= GENERIC_SHARE * len(articles)}


def out_of_corpus(
    nq: list[dict[str, Any]], corpus: str, generic: set[str], rng: random.Random
) -> tuple[list[dict[str, Any]], Counter[str]]:
    """NQ questions whose answers and key terms never occur in the corpus, with why the others were dropped."""
    corpus_stems = {stem(w) for w in words(corpus)}
    corpus_norm = f" {normalize(corpus)} "
    why: Counter[str] = Counter()
    kept = []
    for row in rng.sample(nq, len(nq)):
        terms = key_terms(row["question"], generic)
        answer_terms = {t for a in row["answer"] for t in key_terms(a, generic)}
        if not terms:
            why["no key term to check"] += 1
        elif any(stem(t) in corpus_stems for t in terms):
            why["a key term of the question is in the corpus"] += 1
        elif any(f" {normalize(a)} " in corpus_norm for a in row["answer"] if normalize(a)):
            why["an answer is in the corpus"] += 1
        elif any(stem(t) in corpus_stems for t in answer_terms):
            why["a key term of an answer is in the corpus"] += 1
        else:
            kept.append({**row, "key_terms": sorted(terms)})
    return kept, why


def evidence(context: str, spans: list[tuple[str, int]]) -> list[str] | None:
    """The sentence around each answer span (verbatim, deduplicated); None if one is too long or split."""
    sentences = sentence_spans(context)
    quotes: list[str] = []
    for text, start in spans:
        end = start + len(text)
        inside = [(s, e) for s, e in sentences if s <= start and end <= e]
        if not inside or inside[0][1] - inside[0][0] > MAX_EVIDENCE:
            return None
        quote = context[inside[0][0] : inside[0][1]]
        if quote not in quotes:
            quotes.append(quote)
    return quotes


def build(squad: Path, nq_path: Path, references: list[Path]) -> dict[str, Any]:
    data = {a["title"]: a for a in json.loads(squad.read_text(encoding="utf-8"))["data"]}
    rng = random.Random(SEED)
    docs, meta, questions = {}, [], []
    for title in DEV_ARTICLES + TEST_ARTICLES:
        split = "dev" if title in DEV_ARTICLES else "test"
        paragraphs = data[title]["paragraphs"]
        docs[title] = title.replace("_", " ") + "\n\n" + "\n\n".join(p["context"] for p in paragraphs)
        meta.append({"doc_id": title, "title": title, "paragraphs": len(paragraphs), "split": split})
        candidates = []
        for p in paragraphs:
            for qa in p["qas"]:
                if qa.get("is_impossible"):
                    continue
                spans = [(a["text"], a["answer_start"]) for a in qa["answers"]]
                assert all(p["context"][s : s + len(t)] == t for t, s in spans), qa["id"]
                quotes = evidence(p["context"], spans)
                if quotes:
                    candidates.append((qa, quotes))
        for qa, quotes in rng.sample(candidates, ANSWERABLE):
            answers = []
            for a in qa["answers"]:
                if a["text"].strip() and a["text"].strip() not in answers:
                    answers.append(a["text"].strip())  # every accepted answer
            questions.append(
                {
                    "id": f"squad2-{qa['id']}",
                    "question": qa["question"].strip(),
                    "answers": answers,
                    "evidence": quotes,
                    "supporting_doc_ids": [title],
                    "kind": "answerable",
                    "split": split,
                    "title": title,
                }
            )

    # Generic English: words common across Wikipedia articles other than the corpus's own.
    reference = [
        [p["context"] for p in a["paragraphs"]]
        for path in [squad, *references]
        for a in json.loads(path.read_text(encoding="utf-8"))["data"]
        if a["title"] not in docs
    ]
    generic = generic_words(reference)
    nq = [
        {"line": i, **json.loads(line)}
        for i, line in enumerate(nq_path.read_text(encoding="utf-8").splitlines())
        if line.strip()
    ]
    kept, why = out_of_corpus(nq, "\n".join(docs.values()), generic, rng)
    for n, row in enumerate(kept[:OUT_OF_CORPUS]):
        questions.append(
            {
                "id": f"nq-open-dev-{row['line']:04d}",
                "question": row["question"],
                "answers": [],
                "kind": "out_of_corpus",
                "split": "dev" if n < OOC_DEV else "test",
                "nq_answers": row["answer"],  # the answer elsewhere, for reading a failure; not gold here
                "key_terms": row["key_terms"],  # checked absent from the corpus
            }
        )
    report = {
        "nq_questions": len(nq),
        "nq_kept": len(kept),
        "nq_dropped": dict(why),
        "reference_articles": len(reference),
        "generic_words": len(generic),
    }
    return {"docs": docs, "meta": meta, "questions": questions, "report": report}


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
    parser.add_argument("nq_open_dev", type=Path, help="NQ-open.dev.jsonl")
    parser.add_argument(
        "--reference", type=Path, action="append", default=[], help="more SQuAD-format files for generic words"
    )
    args = parser.parse_args()
    built = build(args.squad_dev, args.nq_open_dev, args.reference)
    write(built)
    print(f"{len(built['docs'])} documents, {len(built['questions'])} questions in {HERE}")
    print(json.dumps(built["report"], indent=1))


if __name__ == "__main__":
    main()
