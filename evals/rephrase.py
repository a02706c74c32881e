"""Build the rephrased sets: every question of wiki-out-of-corpus, asked the way people ask.

- `wiki-background/`: a sentence of background first ("I'm writing a report for my history class at
  Stanford."). It names things the documents never mention; it is not what is asked.
- `wiki-polite/`: a polite wrapper ("Can you tell me where ...?", "Do you know what ...?").

Dev and test questions get different sentences and wrappers (each list written before any run of its
test split), so the test split also checks that nothing was fitted to the dev wording. Deterministic:
run `python evals/rephrase.py` to rewrite both `questions.jsonl` files.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "wiki-out-of-corpus" / "questions.jsonl"

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


# Put before the question with its first letter in lower case ("Can you tell me what are ...?").
POLITE = {
    "dev": ["Can you tell me ", "Could you please tell me ", "Do you know ", "I'd like to know "],
    "test": ["Would you tell me ", "Do you happen to know ", "I want to know ", "Please tell me "],
}


def with_background(question: str, background: str) -> str:
    return f"{background} {question}"


def polite(question: str, wrapper: str) -> str:
    return wrapper + question[0].lower() + question[1:]


SETS: dict[str, tuple[str, dict[str, list[str]], Callable[[str, str], str]]] = {
    "wiki-background": ("bg", BACKGROUND, with_background),
    "wiki-polite": ("polite", POLITE, polite),
}


def rows(name: str) -> list[dict]:
    """The source's questions, in order, each rephrased with the next phrase of its split."""
    prefix, phrases, rephrase = SETS[name]
    source = [json.loads(line) for line in SOURCE.read_text(encoding="utf-8").splitlines() if line.strip()]
    count = {"dev": 0, "test": 0}
    out = []
    for row in source:
        split = row["split"]
        phrase = phrases[split][count[split] % len(phrases[split])]
        count[split] += 1
        out.append({**row, "id": f"{prefix}-{row['id']}", "question": rephrase(row["question"], phrase)})
    return out


def main() -> None:
    for name in SETS:
        built = rows(name)
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in built)
        (HERE / name / "questions.jsonl").write_text(text, encoding="utf-8")
        dev = sum(row["split"] == "dev" for row in built)
        print(f"{name}: {len(built)} questions ({dev} dev, {len(built) - dev} test)")


if __name__ == "__main__":
    main()
