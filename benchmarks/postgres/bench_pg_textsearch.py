"""Existing stores searched side by side: a PostgreSQL store with and without pg_textsearch's
candidates, and optionally a local index folder of the same articles, same run.

    python -m benchmarks.postgres.bench_pg_textsearch DATA --db postgresql://.../bench_100000 \
        [--local WORK/s4/bench/index-2000x-100000] --out runs/ts.json

For stores built elsewhere (bench_postgres.py builds its own; on this machine a 100,000-article
pair takes hours). Engines on the store, one opened with ACCORD_PG_TEXTSEARCH=off (BM25F in SQL
over all postings) and, where the store has its pg_textsearch index, one with it on (taking plain
queries' candidates from the index), and one on `--local`, take turns query by query on
bench_query.py's Reuters queries, after a warm-up, in each mode. Reports p50/p95 of each, the
ratios, and how many top-10 lists are the same. The article counts of both stores are printed:
compare only stores of the same articles.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import REUTERS, make_queries
from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    resolve_model,
    wait_for_quiet,
)
from benchmarks.postgres.bench_postgres import LOCAL_VS_POSTGRES, SQL_VS_CANDIDATES, comparison_table, measure


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/), for the queries")
    parser.add_argument("--db", required=True, help="the store's URL")
    parser.add_argument("--local", type=Path, help="a local index folder of the same articles, searched beside it")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=10, help="queries per mode and store run before timing")
    add_model_option(parser)
    add_run_options(parser)
    args = parser.parse_args(argv)

    import psycopg

    from index.storage.postgres import textsearch
    from index.storage.postgres.connection import redact

    with psycopg.connect(args.db) as conn:
        has_index = textsearch.index_schema(conn) is not None
        articles = conn.execute("SELECT count(*) FROM accord.articles").fetchone()[0]  # type: ignore[index]
        passages = conn.execute("SELECT count(*) FROM accord.passages").fetchone()[0]  # type: ignore[index]
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = redact(command_line(__file__, argv))
    local_articles = None
    if args.local is not None:
        import json

        local_articles = json.loads((args.local / "manifest.json").read_text())["articles"]
    print(header("Existing stores side by side: local folder, PostgreSQL, pg_textsearch candidates", command, info), flush=True)
    sampler = LoadSampler().start()
    result = measure(args.local, args.db, queries, args.warmup, resolve_model(args.model))
    load_during = sampler.stop()
    for comparison in (LOCAL_VS_POSTGRES, SQL_VS_CANDIDATES):
        table = comparison_table({(): result["results"]}, comparison, len(queries), [])
        if table:
            print(table + "\n")
    print(f"- PostgreSQL store: {articles:,} articles, {passages:,} passages"
          + (f"; local folder: {local_articles:,} articles" if local_articles is not None else "")
          + (f"; pg_textsearch index: {'yes' if has_index else 'no'}"))
    print(f"- {len(queries)} Reuters queries (seed {args.seed}), {args.warmup} per mode and store first as warm-up; "
          f"PostgreSQL's keyword leg: {result['keyword_fast_path']}")
    print(f"- load average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']}")
    payload = {"benchmark": "bench_pg_textsearch", "command": command, "machine": info, "load_during": load_during,
               "articles": articles, "passages": passages, "local_articles": local_articles, "queries": queries, "results": result}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
