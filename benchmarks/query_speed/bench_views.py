"""Warm latency of the analyst views on an existing index, beside a plain search in the same run.

    python -m benchmarks.query_speed.bench_views --index WORK/accord-bench/index-20000

Opens the index once, runs every measured call once to warm up (model loaded, files cached),
then `--repeat` times each in turn: `pairs "arms sales"`, a monthly `timeline "arms sales"`,
and `search "arms sales"` (k=10) as the yardstick, so the views' cost is also given as a ratio
to a search measured under the same load. Prints p50/p95 per call and the size of the match set.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    wait_for_quiet,
)
from search.engine import Engine
from search.views.matches import find_matches
from search.views.pairs import pairs
from search.views.timeline import timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True, help="an index built with the real model")
    parser.add_argument("--query", default="arms sales")
    parser.add_argument("--repeat", type=int, default=20)
    add_run_options(parser)
    args = parser.parse_args()
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    print(header("Analyst views, warm", command_line(__file__, sys.argv[1:]), info))
    with Engine.open(args.index) as engine:
        calls = {
            "pairs": lambda: pairs(engine, args.query),
            "timeline --by month": lambda: timeline(engine, args.query, by="month"),
            "search k=10": lambda: engine.search(args.query, k=10),
        }
        for call in calls.values():
            call()  # warm-up
        times: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeat):
            for name, call in calls.items():  # interleaved, so load changes hit every call alike
                started = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - started)
        found = find_matches(engine, args.query)
        result = pairs(engine, args.query)
        articles = engine.stats().articles
    summary = {name: latency_summary(values) for name, values in times.items()}
    search_p50 = summary["search k=10"]["p50_ms"]
    rows = [[name, s["p50_ms"], s["p95_ms"], s["p50_ms"] / search_p50] for name, s in summary.items()]
    print(f"{articles:,} articles; {len(found.matches)} of them match {args.query!r} "
          f"({found.cutoff.describe()}), {len(result.pairs)} country pairs\n")
    print(markdown_table(["call", "p50 ms", "p95 ms", "p50 / search p50"], rows))
    finish(args.out, {"info": info, "articles": articles, "matches": len(found.matches), "pairs": len(result.pairs),
                      "latency": summary})


if __name__ == "__main__":
    main()
