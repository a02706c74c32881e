"""Eval sets: JSONL questions with gold answers and gold support, or a manifest that points at them.

A manifest (``evalset.toml`` in a folder, or any ``.toml`` file) lets an eval set live outside the
repository, e.g. an external benchmark, with its own corpus folder; paths in it are relative to it.

Questions carry a ``split``: ``dev`` (look at it, tune on it) or ``test`` (report it, never tune on
it), so a set can be run on one of them (``load_evalset(path, split="test")``). A manifest's
``split = "dev"`` gives every question without a split of its own that split (a dev-only set).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rag.errors import InvalidEvalSet, MissingFile
from rag.metrics import contains_answer, normalize

MANIFEST = "evalset.toml"

Split = Literal["dev", "test"]
SPLITS: tuple[str, ...] = get_args(Split)
Kind = Literal["answerable", "unanswerable", "out_of_corpus"]
KINDS: tuple[str, ...] = get_args(Kind)


class EvalItem(BaseModel):
    """One question with what counts as a right answer and where the answer is (the gold support)."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answers: list[str] = Field(default=[], description="Acceptable answers; [] when the documents do not answer.")
    evidence: list[str] = Field(default=[], description="Verbatim quotes from the documents that hold the answer.")
    supporting_doc_ids: list[str] = Field(default=[], description="Documents (file names without extension).")
    sources: list[str] = Field(default=[], description="Documents (file names relative to the corpus).")
    split: Split | None = Field(None, description="dev (tune on it) or test (report it); none: in no split.")
    kind: Kind | None = Field(
        None,
        description="answerable; unanswerable (the documents touch the subject but do not answer); "
        "out_of_corpus (the documents never mention the subject). Unanswerable kinds have no answers. "
        "Without one: answerable if it has answers, else unanswerable.",
    )

    @field_validator("answers", "evidence", "supporting_doc_ids", "sources")
    @classmethod
    def _no_blank_strings(cls, values: list[str]) -> list[str]:
        return [v for v in values if v.strip()]

    @model_validator(mode="after")
    def _kind_agrees_with_answers(self) -> EvalItem:
        # A kind that contradicts the answers would silently score the question the other way.
        if self.kind == "answerable" and not self.answers:
            raise ValueError("kind 'answerable' needs answers")
        if self.kind not in (None, "answerable") and self.answers:
            raise ValueError(f"kind {self.kind!r} must have no answers")
        if self.kind is None:  # every item has a kind, so results can be broken down by it
            self.kind = "answerable" if self.answers else "unanswerable"
        return self

    @property
    def answerable(self) -> bool:
        return bool(self.answers)

    @property
    def documents(self) -> list[str]:
        return [*self.supporting_doc_ids, *self.sources]

    def support_units(self) -> int:
        """Gold-support units: the evidence quotes, or else the supporting documents."""
        return len(self.evidence) if self.evidence else len(self.documents)

    def supported_by(self, text: str, source: str) -> set[int]:
        """The gold-support units a passage holds.

        Evidence quotes are matched in the normalised passage (or the passage lies inside a long quote).
        A supporting document counts only for a passage of that document that also contains a gold
        answer: the chunk, not just its file, must hold the answer.
        """
        passage = normalize(text)
        if self.evidence:
            quotes = [normalize(q) for q in self.evidence]
            return {i for i, q in enumerate(quotes) if q and (q in passage or (passage and passage in q))}
        if not contains_answer(text, self.answers):
            return set()
        return {i for i, doc in enumerate(self.documents) if _same_document(source, doc)}


class EvalSet(BaseModel):
    name: str
    path: Path = Field(description="The questions file.")
    corpus: Path | None = Field(None, description="The set's own documents, indexed into their own collection.")
    items: list[EvalItem]
    split: Split | None = Field(None, description="The split the items were narrowed to; none: all of them.")

    def only(self, split: str) -> EvalSet:
        """The questions of one split; the name says which (``squad2-heldout@test``), so reports do too."""
        if split not in SPLITS:
            raise InvalidEvalSet(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
        items = [i for i in self.items if i.split == split]
        if not items:
            have = sorted({i.split for i in self.items if i.split})
            known = f"its splits: {', '.join(have)}" if have else "its questions have no split field"
            raise InvalidEvalSet(f"eval set {self.name} has no questions in split {split!r} ({known})")
        return self.model_copy(update={"name": f"{self.name}@{split}", "items": items, "split": split})


def _same_document(source: str, ref: str) -> bool:
    """A source name (relative path or absolute) refers to ``ref``: a path, a file name, or one without extension."""
    path = PurePosixPath(source)
    return ref in {source, str(path.with_suffix("")), path.name, path.stem}


def load_evalset(path: Path, split: str | None = None) -> EvalSet:
    """A JSONL file of questions, or a manifest (a ``.toml`` file or a folder holding ``evalset.toml``).

    ``split`` keeps only the questions of that split (an error if there are none).
    """
    spec = _load(Path(path))
    return spec if split is None else spec.only(split)


def _load(path: Path) -> EvalSet:
    if path.is_dir() or path.suffix == ".toml":
        return _load_manifest(path / MANIFEST if path.is_dir() else path)
    if not path.is_file():
        raise MissingFile(f"no such eval set: {path}")
    return EvalSet(name=path.stem, path=path, items=load_items(path))


def _load_manifest(path: Path) -> EvalSet:
    if not path.is_file():
        raise MissingFile(f"no eval set manifest: {path}")
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidEvalSet(f"{path}: cannot be read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidEvalSet(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(spec.get("questions"), str):
        raise InvalidEvalSet(f'{path}: needs questions = "<path to a JSONL file>"')
    questions = (path.parent / spec["questions"]).resolve()
    if not questions.is_file():
        raise MissingFile(f"{path}: questions file not found: {questions}")
    corpus = (path.parent / spec["corpus"]).resolve() if isinstance(spec.get("corpus"), str) else None
    if corpus is not None and not corpus.is_dir():
        raise MissingFile(f"{path}: corpus folder not found: {corpus}")
    default_split = spec.get("split")
    if default_split is not None and default_split not in SPLITS:
        raise InvalidEvalSet(f"{path}: split must be one of {', '.join(SPLITS)}, not {default_split!r}")
    items = load_items(questions)
    if default_split is not None:
        # A dev-only set (e.g. data kept elsewhere that was tuned on) is declared once, in its manifest.
        items = [i if i.split else i.model_copy(update={"split": default_split}) for i in items]
    name = spec.get("name") or (path.parent.name if path.name == MANIFEST else path.stem)
    return EvalSet(name=str(name), path=questions, corpus=corpus, items=items)


def load_items(path: Path) -> list[EvalItem]:
    """Questions from a JSONL file; a bad line is an error naming the file and line."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidEvalSet(f"{path}: cannot be read: {exc}") from exc
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = EvalItem.model_validate(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InvalidEvalSet(f"{path}:{i}: not JSON: {exc.msg}") from exc
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "line"
            raise InvalidEvalSet(f"{path}:{i}: {where}: {err['msg']}") from exc
        if item.id in seen:
            raise InvalidEvalSet(f"{path}:{i}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    if not items:
        raise InvalidEvalSet(f"{path}: no questions")
    return items
