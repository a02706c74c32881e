"""Example questions for a new user, written by the generator from the documents and kept only if the
bot answers them with a citation (so a clicked example never meets "the documents do not say")."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from rag.generate import Generator
from rag.queue import Gate
from rag.schema import Answer, Chunk
from rag.store import Store

log = logging.getLogger(__name__)


class ExampleQuestions:
    """Prepared in the background when idle, cached on disk per index version.

    ``generator`` gives the default generator (built on first use), ``ask`` answers a question as a
    user's would be; generation takes turns in ``gate`` like any question, and only when no user
    question is waiting or running.
    """

    def __init__(
        self,
        n: int,
        store: Store,
        gate: Gate,
        cache_dir: Path,
        generator: Callable[[], Generator],
        ask: Callable[[str], Answer],
    ) -> None:
        self.n = n
        self.store = store
        self.gate = gate
        self.cache_dir = cache_dir
        self._generator = generator
        self._ask = ask
        self._examples: tuple[str, list[str]] = ("", [])  # (index version, questions)
        self._refreshing = threading.Lock()

    def current(self) -> list[str]:
        """Checked example questions (none until prepared; refreshed in the background when the
        documents changed since)."""
        version, questions = self._examples
        if questions and self.store.exists() and version != self.store.version():
            if not self._refreshing.locked():
                threading.Thread(target=self.refresh, name="examples", daemon=True).start()
            return []
        return questions

    def refresh(self) -> None:
        with self._refreshing:
            try:
                self.prepare()
            except Exception:  # a nicety: a failure is logged, the server goes on
                log.exception("example questions failed")

    def _wait_for_idle(self) -> None:
        """Examples are a nicety: they go only when no user question is waiting or running."""
        while self.gate.admitted:
            time.sleep(0.5)

    def prepare(self) -> list[str]:
        """Ask the generator for questions about passages (round robin over documents, from their
        openings on) and keep those the bot answers with a citation.

        Cached on disk per index version; done in the background after start-up.
        """
        n = self.n
        if not n or not self.store.exists() or self.store.count() == 0:
            return []
        version = self.store.version()
        cache = self.cache_dir / f"examples-{self.store.name}.json"
        if cache.is_file():
            saved = json.loads(cache.read_text())
            if saved.get("version") == version:
                self._examples = (version, saved["questions"])
                return saved["questions"]
        generator = self._generator()
        by_source: dict[str, list[Chunk]] = {}
        for chunk in sorted(self.store.all_chunks(), key=lambda c: (c.source, c.start)):
            by_source.setdefault(chunk.source, []).append(chunk)
        # Round robin over documents, from their openings on: examples cover several documents.
        ordered = [c for group in itertools.zip_longest(*by_source.values()) for c in group if c is not None]
        kept: list[str] = []
        for chunk in ordered[: 2 * n]:
            self._wait_for_idle()
            with self.gate.admit():
                candidates = generator.questions(chunk.text, 2)
            for question in candidates:
                if question in kept:
                    continue
                self._wait_for_idle()
                answer = self._ask(question)
                if not answer.abstained and answer.citations:
                    kept.append(question)
                    break
            if len(kept) == n:
                break
        if kept:
            self._examples = (version, kept)
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"version": version, "questions": kept}))
        log.info("example questions ready", extra={"examples": kept})
        return kept
