"""Build questions.jsonl: every question of ../wiki-out-of-corpus with a sentence of background first.

People give context before they ask ("I'm writing a report for my class at Stanford. Where ...?").
The background names things the documents never mention; it is not what is asked. Dev and test
questions get different backgrounds (written before any test run), so the test split also checks
that nothing was fitted to the dev wording. Run from anywhere: python evals/wiki-background/build.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "wiki-out-of-corpus" / "questions.jsonl"

BACKGROUND = {
    "dev": [
        "I'm writing a report for my history class at Stanford.",
        "My teacher, Mrs. Patel, asked us to read this before Monday.",
        "Quick question while I prepare tomorrow's presentation.",
        "I was reading about this on the train to Chicago this morning and got curious.",
        "Hi! I'm new here and trying to understand the documents.",
        "For a quiz my friend Tomasz is organising next week, I need to check one fact.",
        "Sorry if this is obvious, I skimmed the text quickly.",
        "Our book club in Melbourne is discussing this next week.",
    ],
    "test": [
        "I'm putting together slides for a seminar in Nairobi.",
        "A student named Priya asked me this after class and I wasn't sure.",
        "Apologies for the basic question.",
        "I run a small trivia night at a pub in Dublin.",
        "Greetings from São Paulo.",
        "I've been going through these articles all afternoon.",
        "My manager, Mr. Svensson, wants an answer by noon.",
        "Let me ask something specific.",
    ],
}


def rows() -> list[dict]:
    """The source's questions, in order, each after the next background of its split."""
    source = [json.loads(line) for line in SOURCE.read_text(encoding="utf-8").splitlines() if line.strip()]
    count = {"dev": 0, "test": 0}
    out = []
    for row in source:
        split = row["split"]
        background = BACKGROUND[split][count[split] % len(BACKGROUND[split])]
        count[split] += 1
        out.append({**row, "id": f"bg-{row['id']}", "question": f"{background} {row['question']}"})
    return out


def main() -> None:
    built = rows()
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in built)
    (HERE / "questions.jsonl").write_text(text, encoding="utf-8")
    dev = sum(row["split"] == "dev" for row in built)
    print(f"{len(built)} questions ({dev} dev, {len(built) - dev} test)")


if __name__ == "__main__":
    main()
