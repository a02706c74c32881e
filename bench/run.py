"""Benchmarks, run on demand: ``make bench`` or ``python -m bench.run [SECTION ...]``.

Each section writes ``bench/results/<section>.json``; ``bench/results/summary.md`` is rebuilt from all of
them after every run (the README quotes it). Sections: ingest, writes, reingest, retrieval, answers, server,
pdf.
Everything runs on this machine's real components; nothing is timed inside the unit tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from bench.pdf import bench_pdf
from rag.chunking import chunk_text, make_splitter
from rag.config import Settings
from rag.embeddings import get_embedder
from rag.factory import build_engine, build_ingestor, build_retriever, build_store
from rag.schema import Chunk

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SQUAD = ROOT.parent / "shared" / "datasets" / "squad2-dev-subset"
VOCAB = [
    "river",
    "council",
    "harbour",
    "museum",
    "railway",
    "festival",
    "province",
    "archive",
    "orchestra",
    "glacier",
    "treaty",
    "vineyard",
    "observatory",
    "cathedral",
    "canal",
    "parliament",
    "library",
    "bridge",
    "market",
    "fortress",
    "island",
    "valley",
    "garrison",
    "printing",
    "copper",
    "textile",
    "census",
    "monastery",
    "shipyard",
    "university",
    "telegraph",
    "lighthouse",
    "plantation",
]


def settings_for(folder: Path, **extra: Any) -> Settings:
    values = {"corpus_dir": folder / "corpus", "data_dir": folder / "index", **extra}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def synthetic_text(rng: random.Random, words: int) -> str:
    sentences, out = [], []
    for _ in range(words):
        out.append(rng.choice(VOCAB))
        if len(out) >= rng.randint(8, 16):
            sentences.append(" ".join(out).capitalize() + ".")
            out = []
    return " ".join(sentences + ([" ".join(out).capitalize() + "."] if out else []))


def percentile(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


# --- sections ---
def ingest_files(settings: Settings, paths: list[Path]) -> Any:
    return build_ingestor(settings).run(paths, progress=False)


def bench_ingest(tmp: Path, files: int = 105, slices: int = 3, rounds: int = 5) -> dict[str, Any]:
    """Ingestion throughput against the embedder's raw throughput on the same chunks.

    This machine's speed drifts by 10-20% from one minute to the next (shared cores), more than the gap
    being measured, so the two are interleaved finely: each round ingests the corpus into a fresh index
    one slice of files at a time (about 1,000 chunks, one ingest batch), and each slice is paired with
    raw embedding of exactly the chunks it added, taken a few seconds apart, in alternating order.
    """
    rng = random.Random(1)
    corpus = tmp / "corpus"
    corpus.mkdir()
    paths = []
    for i in range(files):  # files of ~1,000 words: about 29 chunks each
        paths.append(corpus / f"doc-{i:03d}.txt")
        paths[-1].write_text(synthetic_text(rng, 1000))
    parts = [paths[k::slices] for k in range(slices)]
    embedder = get_embedder(None)
    # A first, untimed ingest warms everything up and yields each slice's chunks for the raw side.
    prep = settings_for(tmp / "prep", corpus_dir=corpus)
    texts = []
    for part in parts:
        before = {c.id for c in build_store(prep).all_chunks()}
        ingest_files(prep, part)
        texts.append([c.text for c in build_store(prep).all_chunks() if c.id not in before])
    pairs = []
    for r in range(rounds):
        settings = settings_for(tmp / f"round-{r}", corpus_dir=corpus)
        for k, part in enumerate(parts):
            ingest = partial(ingest_files, settings, part)
            raw = partial(embedder.embed, texts[k])
            if (r + k) % 2:
                (_, raw_s), (report, ingest_s) = timed(raw), timed(ingest)
            else:
                (report, ingest_s), (_, raw_s) = timed(ingest), timed(raw)
            assert report.chunks_added == len(texts[k])
            pairs.append({"chunks": len(texts[k]), "ingest_s": round(ingest_s, 3), "raw_s": round(raw_s, 3)})
    chunks = sum(p["chunks"] for p in pairs)
    ingest_s = sum(p["ingest_s"] for p in pairs)
    raw_s = sum(p["raw_s"] for p in pairs)
    ratios = [p["raw_s"] / p["ingest_s"] for p in pairs]
    return {
        "files": files,
        "chunks": chunks // rounds,
        "rounds": rounds,
        "pairs": len(pairs),
        "ingest_chunks_per_s": round(chunks / ingest_s, 1),
        "raw_embed_chunks_per_s": round(chunks / raw_s, 1),
        "ingest_vs_raw": round(raw_s / ingest_s, 3),
        "pair_ratio_median": round(statistics.median(ratios), 3),
        "pair_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "runs": pairs,
    }


def docstring_passages(n: int, chunk_size: int = 350, overlap: int = 60) -> list[str]:
    """``n`` passages of real English prose, offline: the docstrings of the installed packages, chunked
    like documents (sorted walk, so the same environment gives the same passages)."""
    import ast

    splitter = make_splitter(chunk_size, overlap)
    passages: list[str] = []
    for path in sorted(Path(np.__file__).parent.parent.rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    passages += [c.text for c in chunk_text(doc, path.name, splitter)]
        if len(passages) >= n:
            return passages[:n]
    raise RuntimeError(f"only {len(passages)} docstring passages found")


def bench_writes(tmp: Path, sizes: tuple[int, ...] = (1_024, 10_240, 20_480)) -> dict[str, Any]:
    """Chroma's write per chunk (vector, text, source, span) as the index grows, 1,024 chunks at a time:
    the part of ingestion that is not embedding. Real passages embedded by the bundled model, because
    random vectors are much harder on the HNSW insert (1.35 ms per chunk at 30k against 0.58 for text
    embeddings, measured once), so they would overstate the cost."""
    texts = docstring_passages(max(sizes))
    vectors, embed_s = timed(partial(get_embedder(None).embed, texts))
    store = build_store(settings_for(tmp))
    per_batch: list[float] = []
    for start in range(0, max(sizes), 1024):
        chunks = [
            Chunk(id=f"w-{n}", source=f"w-{n // 30}.txt", text=texts[n], start=0, end=1)
            for n in range(start, start + 1024)
        ]
        _, seconds = timed(partial(store.add, chunks, vectors[start : start + 1024]))
        per_batch.append(seconds / 1024 * 1000)
    # One batch is noisy: each size gets the median of the (up to) three batches that reached it.
    cost = {str(n): round(statistics.median(per_batch[max(0, n // 1024 - 3) : n // 1024]), 3) for n in sizes}
    return {
        "passages": len(texts),
        "mean_chars": round(statistics.mean(map(len, texts))),
        "embed_ms_per_chunk": round(embed_s / len(texts) * 1000, 2),
        "write_ms_per_chunk_at": cost,
        "write_ms_per_batch": [round(x, 3) for x in per_batch],
    }


def bench_reingest(tmp: Path) -> dict[str, Any]:
    """An unchanged re-ingest of 1,000 files: hashing only, nothing embedded."""
    rng = random.Random(2)
    settings = settings_for(tmp)
    settings.corpus_dir.mkdir(parents=True)
    for i in range(1000):
        (settings.corpus_dir / f"note-{i:04d}.txt").write_text(synthetic_text(rng, 120))
    ingestor = build_ingestor(settings)
    first, first_seconds = timed(lambda: ingestor.run([settings.corpus_dir], progress=False))
    runs = [timed(lambda: build_ingestor(settings).run([settings.corpus_dir], progress=False)) for _ in range(3)]
    assert all(r.chunks_added == 0 for r, _ in runs)
    return {
        "files": 1000,
        "chunks": first.chunks_total,
        "first_ingest_seconds": round(first_seconds, 2),
        "unchanged_reingest_seconds": round(min(s for _, s in runs), 3),
        "unchanged_reingest_seconds_runs": [round(s, 3) for _, s in runs],
    }


def bench_retrieval(tmp: Path, sizes: tuple[int, ...] = (1_000, 10_000, 100_000)) -> dict[str, Any]:
    """Hybrid retrieval latency as the index grows.

    The SQuAD subset's paragraphs are indexed for real; the rest of each size is synthetic filler:
    random text for BM25 and random unit vectors for the dense index (embedding 100k real passages
    would take half an hour here and measures the embedder, not retrieval). Queries are the subset's
    questions, embedded for real as part of each search.
    """
    questions = [json.loads(line)["question"] for line in (SQUAD / "questions.jsonl").read_text().splitlines()]
    embedder = get_embedder(None)
    rng = random.Random(3)
    np_rng = np.random.default_rng(3)
    settings = settings_for(tmp, corpus_dir=SQUAD / "docs", collection="bench-retrieval")
    build_ingestor(settings).run([settings.corpus_dir], progress=False)
    store = build_store(settings)
    results: dict[str, Any] = {"queries": 50, "real_chunks": store.count(), "sizes": {}}
    for size in sizes:
        missing = size - store.count()
        for start in range(0, missing, 5000):
            n = min(5000, missing - start)
            chunks = [
                Chunk(
                    id=f"filler-{size}-{start + i}",
                    source=f"filler/{(start + i) // 50}.txt",
                    text=synthetic_text(rng, 60),
                    start=0,
                    end=1,
                )
                for i in range(n)
            ]
            vectors = np_rng.normal(size=(n, 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            store.add(chunks, vectors)
        store.bump_version()
        retriever = build_retriever(settings, store)
        retriever.search(questions[0])  # builds the BM25 index outside the timings
        latencies, embed = [], []
        for q in questions[:50]:
            _, e = timed(lambda q=q: embedder.embed_one(q))
            _, s = timed(lambda q=q, r=retriever: r.search(q, 4))
            embed.append(e * 1000)
            latencies.append(s * 1000)
        results["sizes"][str(size)] = {
            "chunks": store.count(),
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "query_embedding_p50_ms": percentile(embed, 50),
        }
    return results


def bench_answers(tmp: Path, n: int = 15) -> dict[str, Any]:
    """End-to-end answers with the local LLM on the seed corpus: retrieval, prefill (to the first token)
    and generation, and the tokens the model reads per answer beyond the cached prompt prefix."""
    from rag.generate import answer_prompt, format_passages
    from rag.llm import load_local

    settings = settings_for(tmp, corpus_dir=ROOT / "corpus", llm="local")
    build_ingestor(settings).run([settings.corpus_dir], progress=False)
    engine = build_engine(settings)
    llama = load_local(settings).llama
    items = [json.loads(line) for line in (ROOT / "evals" / "seed.jsonl").read_text().splitlines()][:n]
    # Loads the model and the pinned prefix, with a question outside the measured ones (a measured question
    # asked twice would find its whole prompt already read).
    engine.ask("What is this article about?")
    rows = []
    for item in items:
        answer = engine.ask(item["question"])
        t = answer.timings_ms
        passages, _ = engine.context(item["question"])
        user = answer_prompt().format_messages(passages=format_passages(passages), question=item["question"])[-1]
        rows.append(
            {
                "retrieve_ms": t["retrieve"],
                # from the question's arrival: retrieval, then reading the prompt, then the first token
                "first_token_ms": t["retrieve"] + t["first_token"] if "first_token" in t else None,
                "generate_ms": t.get("generate"),
                "total_ms": t["total"],
                "prompt_tokens": len(llama.tokenize(str(user.content).encode(), add_bos=False)),
                "answer_tokens": len(llama.tokenize(answer.answer.encode(), add_bos=False)),
                "abstained": answer.abstained,
            }
        )
    generated = [r for r in rows if r["first_token_ms"] is not None]

    def p(key: str, q: float, among: list[dict[str, Any]] = rows) -> float:
        return percentile([r[key] for r in among], q)

    return {
        "questions": len(rows),
        "generated": len(generated),
        "threads": settings.llm_threads,
        "total_p50_ms": p("total_ms", 50),
        "total_p95_ms": p("total_ms", 95),
        "retrieve_p50_ms": p("retrieve_ms", 50),
        "first_token_p50_ms": p("first_token_ms", 50, generated),
        "prefill_p50_ms": percentile([r["first_token_ms"] - r["retrieve_ms"] for r in generated], 50),
        "prompt_tokens_per_s_p50": percentile(
            [r["prompt_tokens"] / (r["first_token_ms"] - r["retrieve_ms"]) * 1000 for r in generated], 50
        ),
        "generation_p50_ms": percentile(
            [r["generate_ms"] - (r["first_token_ms"] - r["retrieve_ms"]) for r in generated], 50
        ),
        "prompt_tokens_mean": round(statistics.mean(r["prompt_tokens"] for r in generated), 1),
        "answer_tokens_mean": round(statistics.mean(r["answer_tokens"] for r in generated), 1),
        "rows": rows,
    }


def bench_server(tmp: Path, clients: int = 50, seconds: float = 60) -> dict[str, Any]:
    """A real ``rag serve`` (local LLM) under ``clients`` concurrent askers for ``seconds``: responses,
    latency of the answered ones and the server's memory (the same load as tests/test_load.py)."""
    sys.path.insert(0, str(ROOT))
    from tests.load import hammer
    from tests.server import serve

    questions = [json.loads(line)["question"] for line in (ROOT / "evals" / "seed.jsonl").read_text().splitlines()]
    with serve(tmp, {"RAG_LLM": "local", "RAG_LOG_LEVEL": "WARNING"}) as server:
        return hammer(server, questions, clients, seconds).figures()


SECTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "ingest": bench_ingest,
    "writes": bench_writes,
    "reingest": bench_reingest,
    "retrieval": bench_retrieval,
    "answers": bench_answers,
    "server": bench_server,
    "pdf": bench_pdf,
}


# --- summary ---
def cpu() -> str:
    """The processor and whether it has AVX-512: prompt reading speed depends on it (README)."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    avx512 = "with" if " avx512f" in info else "without"
    return f"{model or platform.machine()} ({avx512} AVX-512)"


def summary() -> str:
    def load(name: str) -> dict[str, Any] | None:
        path = RESULTS / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    lines = ["| benchmark | result | target |", "|---|---|---|"]
    if r := load("ingest"):
        lines.append(
            f"| ingestion ({r['files']} files, {r['chunks']} chunks, {r['rounds']} rounds) | "
            f"{r['ingest_chunks_per_s']} chunks/s = {r['ingest_vs_raw']:.0%} of the raw embedder "
            f"({r['raw_embed_chunks_per_s']}/s) over {r['pairs']} interleaved pairs; per pair median "
            f"{r['pair_ratio_median']:.0%}, range {'-'.join(f'{x:.0%}' for x in r['pair_ratio_range'])} | ≥ 90% |"
        )

    if r := load("writes"):
        writes = ", ".join(f"{ms} ms at {int(n):,}" for n, ms in r["write_ms_per_chunk_at"].items())
        lines.append(
            f"| Chroma's write per chunk as the index grows ({r['passages']:,} real passages) | {writes} chunks; "
            f"embedding one of these passages takes {r['embed_ms_per_chunk']} ms | (what ingestion adds to "
            "embedding) |"
        )
    if r := load("reingest"):
        lines.append(
            f"| unchanged re-ingest, {r['files']} files | {r['unchanged_reingest_seconds']} s "
            f"(first ingest {r['first_ingest_seconds']} s) | ≤ 2 s |"
        )
    if r := load("retrieval"):
        for size, s in r["sizes"].items():
            lines.append(
                f"| hybrid retrieval at {int(size):,} chunks | p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms "
                f"(query embedding {s['query_embedding_p50_ms']} ms of it) | p50 ≤ 50 ms at 100k |"
            )
    if r := load("answers"):
        lines.append(
            f"| answer, local LLM ({r['questions']} seed questions, {r['threads']} threads) | p50 "
            f"{r['total_p50_ms'] / 1000:.1f} s, p95 {r['total_p95_ms'] / 1000:.1f} s; first token p50 "
            f"{r['first_token_p50_ms'] / 1000:.1f} s; retrieval {r['retrieve_p50_ms']:.0f} ms, prompt reading "
            f"{r['prefill_p50_ms'] / 1000:.1f} s ({r.get('prompt_tokens_per_s_p50', '?')} tokens/s), generation "
            f"{r['generation_p50_ms'] / 1000:.1f} s; {r['prompt_tokens_mean']:.0f} prompt tokens read per answer "
            f"(beyond the cached prefix), {r['answer_tokens_mean']:.0f} written | p50 ≤ 3 s, first token ≤ 1.5 s |"
        )
    if r := load("server"):
        lines.append(
            f"| server under load ({r['clients']} clients, {r['seconds']:.0f} s) | responses {r['responses']}; "
            f"answered p50 {r['answered_p50_ms'] / 1000:.1f} s ({r['cached']} from the answer cache); RSS "
            f"{r['rss_ready_mb']} MB ready, at most {r['rss_first_half_max_mb']} MB in the first half of the load "
            f"and {r['rss_second_half_max_mb']} MB in the second, {r['rss_end_mb']} MB at the end"
            " | only 200 or 503 + Retry-After; memory stable |"
        )
    if r := load("pdf"):
        lines.append(
            f"| PDF, text layer ({r['text_pages']} pages of {r['chars_per_page']:,} characters, "
            f"{r['table_pages']} with a ruled table; load {r.get('load_average', '?')}) | read "
            f"{r['read_pages_per_s']} pages/s, {r.get('read_pages_per_cpu_s', '?')} per CPU second (pypdf's text "
            f"alone {r['pypdf_only_pages_per_s']}/s); ingested end to end {r['ingest_pages_per_s']} pages/s "
            f"({r['ingest_chunks']} chunks embedded) | |"
        )
        lines.append(
            f"| PDF, scanned pages (OCR by tesseract at 150 dpi, {r['ocr_pages']} pages of 45 lines) | "
            f"{r['ocr_pages_per_s']} pages/s ({r['ocr_seconds_per_page']} s a page, "
            f"{r.get('ocr_cpu_seconds_per_page', '?')} CPU s); word recall {r['ocr_word_recall']:.1%} | |"
        )
    machine = f"{cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return f"Measured on {machine}.\n\n" + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help=f"any of {', '.join(SECTIONS)} (default: all)")
    args = parser.parse_args(argv)
    if unknown := set(args.sections) - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.sections or list(SECTIONS):
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
            print(f"bench {name} ...", flush=True)
            at = time.strftime("%Y-%m-%dT%H:%M:%S")
            result = {"section": name, "at": at, "machine": cpu(), **SECTIONS[name](Path(tmp))}
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "rows"}), flush=True)
    (RESULTS / "summary.md").write_text(summary())
    print(summary())


if __name__ == "__main__":
    main()
