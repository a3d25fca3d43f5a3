"""Throughput of one shared Engine: queries per second and latency at 1, 2, 4 and 8 threads.

    python -m benchmarks.query_speed.bench_concurrency --index runs/index-20k --data DATA --out runs/bench_concurrency.json

One `Engine` is opened once and shared by N threads (as `accord serve`'s worker threads share
it). Each thread runs its share of the same query list (Reuters queries made as in
`bench_query.py`: titles, topic-place pairs, questions, phrases, field queries; fixed seed), in
hybrid mode by default, k=10, hits with snippets. Every result is compared with the
single-thread answer to the same query, so a sharing bug shows as a mismatch, not as speed.
Reports per thread count: queries per second (all queries / wall time), p50/p95/max latency
per query, mismatches and errors, and the speed-up over one thread measured in the same run.

Two cores can at best double one thread's throughput; the point is that N threads are safe and
do not slow each other below one thread's rate.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import REUTERS, make_queries
from benchmarks.common.machine import (
    LoadSampler,
    add_run_options,
    command_line,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    wait_for_quiet,
)

THREADS = (1, 2, 4, 8)


def _answer(engine, query: str, mode: str) -> list[tuple[str, float]]:
    return [(hit.id, hit.score) for hit in engine.search(query, k=10, mode=mode)]


def run_threads(engine, queries: Sequence[str], mode: str, threads: int,
                expected: dict[str, list[tuple[str, float]]]) -> dict[str, Any]:
    """Run every query once, spread over `threads` threads sharing `engine`."""
    latencies: list[float] = []
    mismatches: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(share: Sequence[str]) -> None:
        mine: list[float] = []
        for query in share:
            started = time.perf_counter()
            try:
                got = _answer(engine, query, mode)
            except Exception as err:  # noqa: BLE001 - counted and reported, the run goes on
                with lock:
                    errors.append(f"{query!r}: {type(err).__name__}: {err}")
                continue
            mine.append(time.perf_counter() - started)
            if got != expected[query]:
                with lock:
                    mismatches.append(query)
        with lock:
            latencies.extend(mine)

    shares = [queries[i::threads] for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(share,)) for share in shares]
    started = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    wall = time.perf_counter() - started
    return {"threads": threads, "queries": len(queries), "wall_s": round(wall, 3),
            "qps": round(len(queries) / wall, 2), **latency_summary(latencies),
            "mismatches": len(mismatches), "errors": len(errors), "error_examples": errors[:3]}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an existing index to search")
    parser.add_argument("--data", type=Path, required=True, help="the data folder (holding reuters21578/), for queries")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "keyword", "semantic"))
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREADS))
    parser.add_argument("--warmup", type=int, default=20)
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Measure, print the report, return the results."""
    from search.engine import Engine

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    command = command_line(__file__, argv)
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    print(header("One shared Engine under concurrent searches", command, info), flush=True)
    sampler = LoadSampler().start()
    with Engine.open(args.index) as engine:
        stats = engine.stats()
        for query in queries[: args.warmup]:
            _answer(engine, query, args.mode)
        expected = {query: _answer(engine, query, args.mode) for query in queries}
        results = [run_threads(engine, queries, args.mode, n, expected) for n in args.threads]
    load_during = sampler.stop()
    base = results[0]["qps"]
    print(markdown_table(
        ["threads", "queries", "qps", "x one thread", "p50 ms", "p95 ms", "max ms", "mismatches", "errors"],
        [[r["threads"], r["queries"], r["qps"], round(r["qps"] / base, 2), r["p50_ms"], r["p95_ms"], r["max_ms"],
          r["mismatches"], r["errors"]] for r in results]))
    print(f"\n- index: {stats.articles:,} articles, {stats.passages:,} passages ({args.index}); mode {args.mode}, k=10")
    print(f"- {len(queries)} Reuters queries (seed {args.seed}); each thread count runs all of them once; "
          "results compared with one thread's")
    print(f"- load average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']}")
    for r in results:
        for example in r["error_examples"]:
            print(f"- error at {r['threads']} threads: {example}")
    payload = {"benchmark": "bench_concurrency", "command": command, "machine": info, "load_during": load_during,
               "index": {"articles": stats.articles, "passages": stats.passages}, "mode": args.mode,
               "results": results}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
