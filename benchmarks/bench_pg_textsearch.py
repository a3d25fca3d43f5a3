"""One existing PostgreSQL store searched with and without pg_textsearch's candidates, same run.

    python benchmarks/bench_pg_textsearch.py ../shared/data --db postgresql://.../bench_100000 --out runs/ts.json

The store must have its pg_textsearch index (built by `accord index --db` on a server that
preloads the extension). Two Engines on it, one opened with ACCORD_PG_TEXTSEARCH=off (BM25F in
SQL over all postings) and one taking plain queries' candidates from the index, take turns query
by query on bench_query.py's Reuters queries, after a warm-up, in each mode (semantic, which
neither changes, is the control). Reports p50/p95 of each, their ratio, and how many top-10
lists are the same. bench_postgres.py does the same beside a local folder, for stores it builds.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    resolve_model,
    wait_for_quiet,
)
from bench_index import REUTERS  # noqa: E402
from bench_postgres import MODES, measure  # noqa: E402
from bench_query import make_queries  # noqa: E402


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/), for the queries")
    parser.add_argument("--db", required=True, help="the store's URL")
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
        if textsearch.index_schema(conn) is None:
            raise SystemExit(f"{redact(args.db)} has no pg_textsearch index; build it on a server that preloads the extension")
        articles = conn.execute("SELECT count(*) FROM accord.articles").fetchone()[0]  # type: ignore[index]
        passages = conn.execute("SELECT count(*) FROM accord.passages").fetchone()[0]  # type: ignore[index]
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = redact(command_line(__file__, argv))
    print(header("PostgreSQL store: SQL BM25F alone vs pg_textsearch candidates", command, info), flush=True)
    sampler = LoadSampler().start()
    result = measure(None, args.db, queries, args.warmup, resolve_model(args.model))
    load_during = sampler.stop()
    rows = []
    for mode in MODES:
        measured = result["results"][mode]
        sql_only, candidates = measured["postgres"], measured["pg_textsearch"]
        rows.append([mode, sql_only["p50_ms"], sql_only["p95_ms"], candidates["p50_ms"], candidates["p95_ms"],
                     candidates["p50_ms"] / sql_only["p50_ms"], f"{measured['same_top10_as_sql']}/{len(queries)}"])
    print(markdown_table(["mode (warm, k=10)", "SQL BM25F p50 ms", "SQL BM25F p95 ms", "pg_textsearch candidates p50 ms",
                          "pg_textsearch candidates p95 ms", "p50 candidates / SQL", "same top 10 as SQL"], rows))
    print(f"\n- store: {articles:,} articles, {passages:,} passages; {len(queries)} Reuters queries (seed {args.seed}), "
          f"{args.warmup} per mode and store first as warm-up")
    print(f"- load average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']}")
    payload = {"benchmark": "bench_pg_textsearch", "command": command, "machine": info, "load_during": load_during,
               "articles": articles, "passages": passages, "queries": queries, "results": result}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
