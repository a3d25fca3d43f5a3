"""The keyword leg under a defence-fact filter (--kind, --org, ...): pushed down into the keyword
store (the store is given the ids that pass and finds its best k among them) against the way it
was done before (every keyword match fetched, then filtered, then cut to k), on an index with
stored facts. Both give the same hits (checked here, and by tests/test_entity_pushdown.py); this
measures what the pushdown saves.

    python -m benchmarks.query_speed.bench_entity_filter INDEX [--k 100] [--repeat 5] [--out runs/entity_filter.json]

For each query and each kind of cooperation, both ways run `--repeat` times in turn; the table
gives the median milliseconds of each and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    wait_for_quiet,
)
from index.filters import Filters
from index.text.defence import KINDS
from search.engine import Engine

QUERIES = ("military cooperation", "arms", "government talks", "defence minister", "election", "company shares")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, metavar="INDEX", help="an index built by `accord index` (with stored facts)")
    parser.add_argument("--k", type=int, default=100, help="hits the keyword leg returns (default 100)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way per query and filter (default 5)")
    add_run_options(parser)
    args = parser.parse_args(argv)
    info = machine_info()
    if not args.no_wait:
        info["waited_s"] = wait_for_quiet(args.max_load, args.max_wait)
    command = command_line(__file__, argv if argv is not None else sys.argv[1:])
    rows, results = [], []
    with Engine.open(args.index) as engine:
        total = engine.stats().articles
        for kind in KINDS:
            filters = Filters.parse(kinds=[kind])
            with engine.view() as generation:
                passing = generation.docs.filtered_article_ids(kinds=(kind,))
            pushed_s, before_s = [], []
            for query in QUERIES:
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    pushed = engine.keyword_run(query, args.k, filters)
                    pushed_s.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    every = engine.keyword_run(query, total, filters.without_entities())
                    before = [hit for hit in every if hit[0] in passing][: args.k]
                    before_s.append(time.perf_counter() - started)
                if pushed != before:
                    raise SystemExit(f"different hits for {query!r} with kind {kind}: the pushdown changed the ranking")
            pushed_ms, before_ms = statistics.median(pushed_s) * 1000, statistics.median(before_s) * 1000
            rows.append([kind, len(passing), f"{before_ms:.2f}", f"{pushed_ms:.2f}", f"{before_ms / pushed_ms:.1f}x"])
            results.append({"kind": kind, "passing": len(passing), "before_ms": before_ms, "pushed_ms": pushed_ms})
    print(header("Defence-fact filter pushed into the keyword store", command, info))
    print(f"{total} articles, k={args.k}, {len(QUERIES)} queries x {args.repeat} runs each way; median ms per keyword leg")
    print(markdown_table(["kind", "articles passing", "fetch all, then filter", "pushed down", "speed-up"], rows))
    finish(args.out, {"command": command, "machine": info, "articles": total, "k": args.k, "results": results})


if __name__ == "__main__":
    main()
