"""Searches through a read replica that stops part-way: failed searches and latency.

    python -m benchmarks.postgres.bench_failover --searches 200 --stop-at 50 --out runs/bench_failover.json

Starts a PostgreSQL server on 127.0.0.1 (LocalPostgres) and one streaming replica, builds a
synthetic corpus (`--articles` articles of generated words, deterministic) into the primary with
the fake hashing encoder of the tests (no model download), and opens one Engine on the primary
with the replica as its reader. It then runs `--searches` hybrid searches one after another;
when search number `--stop-at` starts, another thread stops the replica (`--stop fast`: the
server ends its sessions with AdminShutdown; `immediate`: they are cut without a word), so a
search is usually in flight on it. The replica stays down to the end.

Prints how many searches failed (and the first error), p50, p99 and max latency over all
searches and over those after the stop, and the store's own counters: reads interrupted by a
lost connection (each retried once on another server), searches that waited out the pool's
timeout, background probes of the stopped replica, and pools opened. Then the five slowest
searches, each with the counters that moved while it ran: a slow search with none beside it was
slowed by something outside the store (on a shared machine, the other processes).
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    percentile,
    wait_for_quiet,
)

WORDS = [f"{stem}{n}" for stem in ("navy", "treaty", "missile", "grain", "border", "talks", "arms", "drill") for n in range(40)]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--searches", type=int, default=200, help="searches to run, one after another")
    parser.add_argument("--stop-at", type=int, default=50, help="stop the replica when this search starts")
    parser.add_argument("--stop", choices=("fast", "immediate"), default="fast", help="how the replica is stopped")
    parser.add_argument("--articles", type=int, default=300, help="articles in the synthetic corpus")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if not 0 <= args.stop_at < args.searches:
        parser.error(f"--stop-at {args.stop_at} must lie between 0 and --searches {args.searches}")
    return args


def write_corpus(folder: Path, articles: int) -> Path:
    """`articles` generated articles as one JSONL file (the same every run)."""
    import json

    rng = random.Random(11)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "articles.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(articles):
            body = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 300)))
            out.write(json.dumps({"id": f"a{n:04d}", "title": f"Report {n} {rng.choice(WORDS)}", "body": body}) + "\n")
    return path


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from index.pipeline.builder import build
    from index.storage.postgres.local_server import LocalPostgres
    from search.engine import Engine
    from tests.conftest import HashingEncoder

    rng = random.Random(5)
    queries = [" ".join(rng.sample(WORDS, 3)) for _ in range(args.searches)]
    with LocalPostgres.start() as server:  # its own folder, which the server's user can enter
        url = server.url()
        build([write_corpus(work / "corpus", args.articles)], url, encoder=HashingEncoder())
        replica = server.replica()
        server.wait_for_replicas()
        seconds: list[float] = []
        errors: list[str] = []
        paths: list[str] = []  # per search: the counters that moved during it (which path it took)
        with Engine.open(url, encoder=HashingEncoder(), replicas=[replica.url()]) as engine:
            engine.search(queries[0])  # warm: pools opened on both servers
            stopped = threading.Event()

            def stop() -> None:
                replica.stop(delete=False, fast=args.stop == "fast")
                stopped.set()

            for n, query in enumerate(queries):
                if n == args.stop_at:
                    threading.Thread(target=stop, daemon=True).start()
                before = engine.store_counters()
                started = time.perf_counter()
                try:
                    engine.search(query)
                except Exception as err:  # noqa: BLE001 - counted and reported
                    errors.append(f"search {n}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                seconds.append(time.perf_counter() - started)
                after = engine.store_counters()
                paths.append(" ".join(f"{k}+{after[k] - before[k]}" for k in after if after[k] != before[k]))
            stopped.wait(60)
            counters = engine.store_counters()
    return {"seconds": seconds, "errors": errors, "counters": counters, "paths": paths}


def summary(seconds: Sequence[float]) -> list[float]:
    ms = [s * 1000 for s in seconds]
    return [percentile(ms, 50), percentile(ms, 99), max(ms)]


def main(argv: Sequence[str] | None = None) -> None:
    import tempfile

    args = parse_args(argv)
    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    if not args.no_wait:
        wait_for_quiet(args.max_load, args.max_wait)
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="accord-failover-") as work:
        result = run(args, Path(work))
    seconds, errors = result["seconds"], result["errors"]
    print(header("Searches through a replica that stops", command, info))
    # Before the stop nothing fails over: those searches are the control for the machine's own
    # noise (on a loaded machine their p99 is already well above 2x the p50).
    rows = [["all", len(seconds), *summary(seconds)],
            ["before the stop", len(seconds[:args.stop_at]), *summary(seconds[:args.stop_at])],
            ["after the stop", len(seconds[args.stop_at:]), *summary(seconds[args.stop_at:])]]
    print(markdown_table(["searches", "n", "p50 ms", "p99 ms", "max ms"], rows))
    print(f"\nfailed searches: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print("store counters: " + ", ".join(f"{k}={v}" for k, v in result["counters"].items()))
    # The slowest searches and what moved while they ran: a search that lost its connection
    # (interrupted), opened a server's pool (pools_opened) or waited for one (pool_timeouts)
    # has a cause in the store; one with nothing beside it was slowed by something else.
    slowest = sorted(range(len(seconds)), key=lambda n: seconds[n], reverse=True)[:5]
    print("slowest: " + "; ".join(f"#{n} {seconds[n] * 1000:.1f} ms{' (' + result['paths'][n] + ')' if result['paths'][n] else ''}"
                                  for n in slowest))
    finish(args.out, {"command": command, "machine": info, "stop": args.stop, "stop_at": args.stop_at,
                      "errors": errors, "counters": result["counters"], "table": rows,
                      "seconds": seconds, "paths": result["paths"]})


if __name__ == "__main__":
    main()
