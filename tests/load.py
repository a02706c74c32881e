"""Many concurrent clients asking a real server for a fixed time: the load test and ``make bench`` share it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.server import Server


@dataclass
class Load:
    clients: int
    seconds: float
    statuses: dict[int, int] = field(default_factory=dict)
    bad: list[str] = field(default_factory=list)  # responses other than 200 and 503-with-Retry-After
    latencies_ms: list[float] = field(default_factory=list)  # of the 200s
    cached: int = 0
    rss_mb: list[float] = field(default_factory=list)  # the server's RSS, sampled every half second
    rss_ready_mb: float = 0.0
    peak_rss_mb: float = 0.0

    def growth_mb(self) -> float:
        """How much the server's RSS grew from the first half of the load to the second: a leak shows
        here, while the one-off buffers of the first generations (~250 MB) fall in the first half."""
        half = len(self.rss_mb) // 2
        return max(self.rss_mb[half:], default=0) - max(self.rss_mb[:half], default=0)

    def figures(self) -> dict[str, object]:
        lat = sorted(self.latencies_ms)
        return {
            "clients": self.clients,
            "seconds": self.seconds,
            "responses": {str(k): v for k, v in sorted(self.statuses.items())},
            "bad": len(self.bad),
            "cached": self.cached,
            "answered_p50_ms": round(lat[len(lat) // 2], 1) if lat else None,
            "rss_ready_mb": round(self.rss_ready_mb),
            "rss_first_half_max_mb": round(max(self.rss_mb[: len(self.rss_mb) // 2], default=0)),
            "rss_second_half_max_mb": round(max(self.rss_mb[len(self.rss_mb) // 2 :], default=0)),
            "rss_max_mb": round(max(self.rss_mb, default=0)),
            "rss_end_mb": round(self.rss_mb[-1]) if self.rss_mb else None,
            "peak_rss_mb": round(self.peak_rss_mb),
        }


def memory_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("Vm")
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def hammer(server: Server, questions: list[str], clients: int = 50, seconds: float = 60) -> Load:
    """``clients`` threads post to /api/ask until ``seconds`` pass; a 503 client waits its Retry-After
    (at most 2 s: impatient users) and asks again. Every other request's question is made unique, so
    both cached answers and real generations are in the mix."""
    load = Load(clients, seconds)
    load.rss_ready_mb, _ = memory_mb(server.pid)
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            rss, _ = memory_mb(server.pid)
            load.rss_mb.append(rss)

    def client(i: int) -> None:
        n = 0
        with server.client(timeout=600) as c:
            while time.monotonic() < stop:
                base = questions[(i + n) % len(questions)]
                question = base if n % 2 == 0 else f"{base} (client {i}, request {n})"
                n += 1
                t = time.perf_counter()
                try:
                    r = c.post("/api/ask", json={"question": question})
                except httpx.HTTPError as exc:
                    with lock:
                        load.bad.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    load.statuses[r.status_code] = load.statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200 and r.json().get("question") == question:
                        load.latencies_ms.append((time.perf_counter() - t) * 1000)
                        load.cached += bool(r.json().get("cached"))
                    elif r.status_code != 503 or int(r.headers.get("retry-after", "0")) < 1:
                        load.bad.append(f"{r.status_code}: {r.text[:200]}")
                if r.status_code == 503:
                    time.sleep(min(2.0, float(r.headers["retry-after"]), max(0.0, stop - time.monotonic())))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 900)
    done.set()
    sampler.join()
    load.rss_mb.append(memory_mb(server.pid)[0])
    load.peak_rss_mb = memory_mb(server.pid)[1]
    return load
