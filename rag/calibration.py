"""A stored calibration of the answer checks (made by ``rag calibrate``): where it lives, reading it,
and applying its thresholds to the settings an engine's policy is built from (``rag.factory.calibrated_policy``).

Kept apart from the measuring (``rag.calibrate``), which builds engines itself: the factory, the
API, the CLI and the web UI read calibrations without importing the measuring machinery.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from rag.config import Settings
from rag.errors import RagError
from rag.generators import model_name

if TYPE_CHECKING:
    from rag.store import Store

log = logging.getLogger(__name__)


class Rates(BaseModel):
    """How many answerable and unanswerable questions one setting answers."""

    answerable: int = Field(description="Answerable questions.")
    answerable_answered: int
    unanswerable: int = Field(description="Unanswerable (deletion) questions.")
    unanswerable_answered: int
    answered_answerable: float = Field(description="Share of answerable questions answered (higher is better).")
    answered_unanswerable: float = Field(description="Share of unanswerable questions answered (lower is better).")


class DefaultRates(BaseModel):
    decline_threshold: float
    min_score: float
    judge_threshold: float | None = None
    fit: Rates
    held_out: Rates


class Tradeoff(BaseModel):
    """What another target would have chosen: the price of each target, shown beside the choice."""

    target: float
    decline_threshold: float
    min_score: float
    judge_threshold: float | None = None
    target_met: bool
    fit: Rates
    held_out: Rates


class Calibration(BaseModel):
    """A calibration of the answer checks on one collection, as stored beside the index."""

    collection: str
    llm: str = Field(description="The generator it was measured with; it applies to this generator only.")
    model: str
    target: float = Field(description="Most of the unanswerable questions that may be answered (a share).")
    decline_threshold: float = Field(description="Chosen RAG_DECLINE_THRESHOLD.")
    min_score: float = Field(description="Chosen RAG_MIN_SCORE.")
    judge_threshold: float | None = Field(
        None, description="Chosen RAG_JUDGE_THRESHOLD (None: a calibration made before the judge was tuned)."
    )
    target_met: bool = Field(description="Whether the fitting half met the target (else: the closest setting).")
    note: str
    fit: Rates = Field(description="The fitting half at the chosen setting (what it was chosen on).")
    held_out: Rates = Field(description="The held-out half at the chosen setting: what to expect.")
    before: DefaultRates = Field(description="Both halves at the settings in force without the calibration.")
    tradeoffs: list[Tradeoff] = Field(
        [], description="The choice for other targets (same measurement): what a stricter or looser one costs."
    )
    passages: int = Field(description="Passages questions were written from.")
    skipped_passages: int = Field(0, description="Passages the generator wrote no usable question for.")
    index_version: str
    created: str = Field(description="When it was made (UTC, ISO 8601).")
    seconds: float = Field(0.0, description="Wall time of the run that made it.")
    measured_with: dict[str, Any] = {}
    stale: bool = Field(False, description="The index changed since: still used, but worth re-running.")


def calibration_path(settings: Settings, collection: str | None = None) -> Path:
    return settings.data_dir / f"calibration-{collection or settings.collection_name}.json"


def read_calibration(path: Path) -> Calibration | None:
    """The calibration stored at ``path``; None when there is none or it cannot be read (a broken file
    must never stop questions being answered: it is logged and ignored)."""
    try:
        return Calibration.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring the calibration file %s: %s", path, str(exc).splitlines()[0])
        return None


def load_calibration(settings: Settings, store: Store | None = None) -> Calibration | None:
    """The stored calibration of the settings' collection, flagged ``stale`` when the index changed."""
    found = read_calibration(calibration_path(settings, store.name if store else None))
    if found is not None and store is not None:
        found.stale = found.index_version != store.version()
    return found


CALIBRATED = ("decline_threshold", "min_score", "judge_threshold")
_read: dict[Path, tuple[tuple[int, int], Calibration | None]] = {}  # path -> (mtime and size, its content)
_logged: set[tuple[Path, tuple[int, int], str]] = set()


def apply_calibration(settings: Settings, collection: str | None = None) -> Settings:
    """``settings`` with the stored calibration's thresholds, when one was made for this generator.

    Precedence: a threshold set explicitly (``RAG_DECLINE_THRESHOLD`` / ``RAG_MIN_SCORE`` in the
    environment or ``.env``, or passed to ``Settings``) wins over the calibration, which wins over the
    built-in defaults. Pass settings as configured, not ones already calibrated. The file is re-read
    only when it changes, so this is cheap enough to call for every question.
    """
    path = calibration_path(settings, collection)
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        return settings
    cached = _read.get(path)
    if cached is None or cached[0] != stamp:
        cached = _read[path] = (stamp, read_calibration(path))
    found = cached[1]
    if found is None or (found.llm, found.model) != (settings.llm, model_name(settings)):
        return settings
    update = {
        k: value for k in CALIBRATED if k not in settings.model_fields_set and (value := getattr(found, k)) is not None
    }
    applied = settings.model_copy(update=update) if update else settings
    if (path, stamp, settings.llm) not in _logged:  # once per calibration and generator, not per question
        _logged.add((path, stamp, settings.llm))
        log.info(
            "using the calibration of %s (%s): decline threshold %g, min score %g, judge threshold %g%s",
            found.collection,
            found.created[:10],
            applied.decline_threshold,
            applied.min_score,
            applied.judge_threshold,
            "" if update.keys() == set(CALIBRATED) else " (explicit settings kept)",
        )
    return applied


def judge_text(threshold: float | None, label: str = "judge threshold ") -> str:
    """ ", judge threshold 0.7" for a calibration that set it; nothing for one made before it was tuned."""
    return "" if threshold is None else f", {label}{threshold:g}"


def calibration_note(settings: Settings, store: Store | None = None) -> str:
    """One line for people: what calibration is in force, if any (the web UI's settings show it)."""
    try:
        found = load_calibration(settings, store)
    except RagError:  # an index that cannot be reached: say what is stored, without staleness
        found = load_calibration(settings)
    if found is None:
        return "Not calibrated: `rag calibrate` tunes the answer checks on your documents."
    line = (
        f"Calibrated for {found.llm}: decline threshold {found.decline_threshold:g}, min score "
        f"{found.min_score:g}{judge_text(found.judge_threshold)} for target {found.target:.0%} "
        f"({found.created[:10]}; held out: "
        f"{found.held_out.answered_unanswerable:.0%} of unanswerable, "
        f"{found.held_out.answered_answerable:.0%} of answerable questions answered)"
    )
    return line + (" - stale: the documents changed since" if found.stale else "")
