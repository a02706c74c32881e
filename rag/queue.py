"""The generation queue: one turn at a time, a bounded line behind it, the rest refused at once."""

from __future__ import annotations

import math
import threading
import time

from rag.errors import Busy


class Ticket:
    """A place in the generation queue. ``with ticket:`` waits for the turn; release is idempotent."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._running = False
        self._released = False
        self._t0 = 0.0

    def __enter__(self) -> Ticket:
        self._gate._turn.acquire()
        self._running = True
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        with self._gate._lock:
            if self._released:
                return
            self._released = True
            self._gate.admitted -= 1
            if self._running:
                # a running average of how long one turn takes, for Retry-After
                self._gate.seconds_per_turn = 0.7 * self._gate.seconds_per_turn + 0.3 * (time.perf_counter() - self._t0)
        if self._running:
            self._running = False
            self._gate._turn.release()


class Gate:
    """One generation at a time, at most ``max_waiting`` more in line; the rest are refused at once.

    The local model answers one question at a time; queueing without bound would only turn a burst
    into timeouts, so a full queue says "busy, retry in N s" (HTTP 503 + Retry-After) instead.
    Document writes take turns through a gate of their own (``what`` names the work in the message).
    """

    def __init__(self, max_waiting: int, what: str = "questions") -> None:
        self.max_waiting = max_waiting
        self.what = what
        self.admitted = 0
        self.seconds_per_turn = 5.0
        self._lock = threading.Lock()
        self._turn = threading.Lock()

    def admit(self) -> Ticket:
        with self._lock:
            if self.admitted > self.max_waiting:
                retry = max(1, math.ceil(self.seconds_per_turn * self.admitted))
                raise Busy(f"busy: {self.admitted} {self.what} ahead; retry in {retry} s", retry)
            self.admitted += 1
        return Ticket(self)
