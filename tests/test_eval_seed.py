"""CI's evaluation: the seed set through the real chain with the bundled local LLM, against the floors.

The floors are the acceptance targets of the seed set (README, "Evaluation"); a change that drops the
bot below them fails the build. Run alone with ``pytest -m eval``.
"""

from pathlib import Path

import pytest

from rag.config import Settings
from rag.evaluate import run_evaluation
from tests.conftest import ROOT

pytestmark = [pytest.mark.llm, pytest.mark.eval]

SEED = ROOT / "evals" / "seed.jsonl"


def test_seed_set_meets_the_acceptance_floors(settings: Settings, corpus: Path, tmp_path: Path) -> None:
    local = settings.model_copy(update={"llm": "local"})
    report = run_evaluation(local, SEED, corpus=corpus, out=tmp_path / "report")
    m = report.results[0].metrics
    misses = [(r.id, r.answer) for r in report.misses()]
    assert m.accuracy is not None and m.accuracy >= 0.90, misses
    assert m.accuracy_cited is not None and m.accuracy_cited >= 0.90, misses
    assert m.abstention_recall is not None and m.abstention_recall >= 0.85, misses
    written = {p.name for p in (tmp_path / "report").iterdir()}
    assert {"report.json", "records.jsonl", "summary.md", "summary.html"} <= written
