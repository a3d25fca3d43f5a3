"""`accord serve` under load: warm API latency beside the Engine's own, then concurrent clients.

    python -m benchmarks.serving.bench_serve --index WORK/scale/index-20000 --out runs/bench_serve.json

Takes an existing index. Queries are the titles of `--queries` articles of that index (first
eight words, fixed seed), so any index has queries that match something.

1. Latency: the server runs in its own process (`search.web.server.Server` on 127.0.0.1, a free
   port, as `accord serve` runs it); this process opens the same index with `Engine.open` and,
   query by query, times `engine.search(q, k=10, mode)` and `GET /api/search?q=...&k=10&mode=...`
   over one keep-alive HTTP connection (httpx), alternating which goes first. After
   `--warmup` untimed queries each. The API time includes HTTP, JSON and the engine call in the
   server; the ratio of the two p50s is the serving overhead, measured in the same run.
2. Load: `--clients` threads (8), each with its own connection, send the queries round-robin
   for `--duration` seconds (60 s max) or until `--max-requests` in all; every non-200 answer or
   failed request counts as an error. p50/p95 of the request latency, requests per second.

Everything goes to 127.0.0.1 only. Numbers depend on the machine's load; the script records it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.machine import (
    REPO,
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

MAX_DURATION_S = 60.0  # the load test is bounded in time ...
MAX_REQUESTS = 100_000  # ... and in count


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="an existing index directory")
    parser.add_argument("--mode", default="hybrid", choices=("hybrid", "keyword", "semantic"))
    parser.add_argument("--queries", type=int, default=100, help="queries (article titles) to time")
    parser.add_argument("--warmup", type=int, default=10, help="untimed queries first, through each path")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients in the load test")
    parser.add_argument("--duration", type=float, default=60.0, help=f"load test seconds (at most {MAX_DURATION_S:.0f})")
    parser.add_argument("--max-requests", type=int, default=MAX_REQUESTS, help="stop the load test after this many requests")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE in both processes first (it may register the index's encoder)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    if not 0 < args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be in (0, {MAX_DURATION_S:.0f}]")
    if not 1 <= args.clients <= 64:
        parser.error("--clients must be 1 to 64")
    return args


def make_queries(index_dir: Path, count: int, seed: int) -> list[str]:
    """The first eight words of the titles of `count` articles of the index (fixed seed)."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    with sqlite3.connect(f"file:{index_dir / manifest['generation'] / 'articles.sqlite'}?mode=ro", uri=True) as db:
        titles = [row[0] for row in db.execute("SELECT title FROM articles ORDER BY id")]
    random.Random(seed).shuffle(titles)
    queries = []
    for title in titles:
        words = "".join(c if c.isalnum() or c.isspace() else " " for c in title).split()[:8]
        if words:
            queries.append(" ".join(words))
        if len(queries) == count:
            break
    return queries


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(index_dir: Path, port: int, imports: Sequence[str]) -> subprocess.Popen:
    """`accord serve` in its own process, the way the CLI starts it; returns once it answers."""
    import httpx

    code = (
        "import importlib, sys\n"
        f"for name in {list(imports)!r}: importlib.import_module(name)\n"
        "from pathlib import Path\n"
        "from search.web.server import Server\n"
        f"Server(Path({str(index_dir)!r}), host='127.0.0.1', port={port}).run()\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench_serve.py: the server exited with code {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/stats", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("bench_serve.py: the server did not answer within 120 s")


def latency(index_dir: Path, base: str, queries: list[str], mode: str, warmup: int) -> dict[str, Any]:
    """Each query through the Engine in this process and through the API, alternating the order."""
    import httpx

    from search.engine import Engine

    engine_s: list[float] = []
    api_s: list[float] = []
    with Engine.open(index_dir) as engine, httpx.Client(base_url=base, timeout=60) as client:
        def through_engine(query: str) -> float:
            started = time.perf_counter()
            engine.search(query, k=10, mode=mode)
            return time.perf_counter() - started

        def through_api(query: str) -> float:
            started = time.perf_counter()
            response = client.get("/api/search", params={"q": query, "k": 10, "mode": mode})
            response.json()
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                raise SystemExit(f"bench_serve.py: /api/search answered {response.status_code}: {response.text}")
            return elapsed

        for query in queries[:warmup]:
            through_engine(query)
            through_api(query)
        for number, query in enumerate(queries):
            if number % 2:
                engine_s.append(through_engine(query))
                api_s.append(through_api(query))
            else:
                api_s.append(through_api(query))
                engine_s.append(through_engine(query))
        articles = engine.stats().articles
    engine_summary, api_summary = latency_summary(engine_s), latency_summary(api_s)
    return {
        "articles": articles,
        "engine": engine_summary,
        "api": api_summary,
        "ratio_p50": api_summary["p50_ms"] / engine_summary["p50_ms"],
        "ratio_mean": api_summary["mean_ms"] / engine_summary["mean_ms"],
    }


def load(base: str, queries: list[str], mode: str, clients: int, duration: float, max_requests: int) -> dict[str, Any]:
    """`clients` threads sending searches until `duration` seconds or `max_requests` have passed."""
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    sent = [0]
    stop_at = time.monotonic() + duration

    def client_loop(number: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            position = number
            while time.monotonic() < stop_at:
                with lock:
                    if sent[0] >= max_requests:
                        return
                    sent[0] += 1
                query = queries[position % len(queries)]
                position += clients
                started = time.perf_counter()
                try:
                    response = client.get("/api/search", params={"q": query, "k": 10, "mode": mode})
                    response.json()
                    ok, what = response.status_code == 200, f"HTTP {response.status_code}"
                except (httpx.HTTPError, ValueError) as err:
                    ok, what = False, type(err).__name__
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if not ok:
                        errors.append(what)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"clients": clients, "seconds": wall, "requests": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors)), "requests_per_s": len(latencies) / wall, **latency_summary(latencies)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the report and return (and optionally write) the results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    import importlib

    for name in args.imports:
        importlib.import_module(name)
    queries = make_queries(args.index, args.queries, args.seed)
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = command_line(__file__, argv)
    print(header("Serving latency and load", command, info), flush=True)
    port = free_port()
    server = start_server(args.index, port, args.imports)
    base = f"http://127.0.0.1:{port}"
    sampler = LoadSampler().start()
    try:
        warm = latency(args.index, base, queries, args.mode, args.warmup)
        loaded = load(base, queries, args.mode, args.clients, args.duration, args.max_requests)
    finally:
        server.terminate()
        server.wait(timeout=30)
    machine_load = sampler.stop()
    print(f"{warm['articles']} articles, {len(queries)} queries (article titles), mode {args.mode}, k=10\n")
    print(markdown_table(
        ["path", "n", "p50 ms", "p95 ms", "mean ms"],
        [[name, warm[key]["n"], warm[key]["p50_ms"], warm[key]["p95_ms"], warm[key]["mean_ms"]]
         for name, key in (("Engine.search (in process)", "engine"), ("GET /api/search (HTTP, other process)", "api"))],
    ))
    print(f"\nAPI / Engine: p50 {warm['ratio_p50']:.2f}x, mean {warm['ratio_mean']:.2f}x\n")
    print(markdown_table(
        ["clients", "seconds", "requests", "errors", "req/s", "p50 ms", "p95 ms", "max ms"],
        [[loaded["clients"], loaded["seconds"], loaded["requests"], loaded["errors"], loaded["requests_per_s"],
          loaded["p50_ms"], loaded["p95_ms"], loaded["max_ms"]]],
    ))
    print(f"\nload average while measuring: mean {machine_load['mean']}, max {machine_load['max']}")
    payload = {"command": command, "machine": info, "mode": args.mode, "queries": len(queries),
               "latency": warm, "load": loaded, "machine_load": machine_load}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
