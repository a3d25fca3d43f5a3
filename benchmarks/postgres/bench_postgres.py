"""The PostgreSQL store beside the local one: build time and warm search latency, same run.

    python -m benchmarks.postgres.bench_postgres DATA --sizes 20000 100000 --base 2000 \
        --work WORK/pg --cache WORK/scale/embeddings.sqlite --out runs/bench_postgres.json

Corpus: the first `--base` Reuters-21578 articles with a body, replicated to each size as in
`bench_scale.py` (copies get new ids and dates moved on; their texts, and so their vectors, are
shared through the embedding cache), so the real model's vectors are computed once. Every
number here says "replicated".

Per size, in one process and in the same run: build the local index folder and the PostgreSQL
store (a LocalPostgres server on 127.0.0.1 started by this script, or `--db URL`), one after the
other, or at once in two processes with `--parallel-builds` (each build then shares the cores with
the other, so its seconds are not comparable with a serial run's; the report says which), then open an
Engine on each and run every query in each mode on both, alternating, after a warm-up. Reports
p50/p95 per store and mode, the ratio PostgreSQL / local, and how many top-10 lists are the same.
Where the server has `pg_textsearch` (tests/install_pg_textsearch.py puts it into the embedded
server), the builds run with ACCORD_PG_TEXTSEARCH=on, so the store gets its index and is also
searched taking keyword candidates from it, beside the SQL-only ranking (a second table); the
script says whether it was.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import REUTERS, convert_reuters, make_queries, replicate_jsonl
from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    resolve_model,
    stopwatch,
    wait_for_quiet,
)

MODES = ("keyword", "semantic", "hybrid")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000], help="articles per index")
    parser.add_argument("--base", type=int, default=2000, help="distinct Reuters articles replicated to each size")
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpora and local indexes")
    parser.add_argument("--cache", type=Path, help="embedding cache shared by every build (default WORK/embeddings.sqlite)")
    parser.add_argument("--db", help="a PostgreSQL server URL to use instead of starting one (a database per size is created)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=10, help="queries per mode and store run before timing")
    parser.add_argument("--parallel-builds", action="store_true",
                        help="build the folder and the PostgreSQL store at once, in two processes")
    add_model_option(parser)
    add_run_options(parser)
    return parser.parse_args(argv)


def _build(jsonl: Path, location: str | Path, cache: Path, model: str) -> dict[str, Any]:
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build

    with stopwatch() as t:
        report = build([jsonl], location, encoder=encoder_for(model), embedding_cache=cache)
    return {"seconds": t["s"], "embedded": report.embedded, "articles": report.articles, "passages": report.passages,
            "stage_seconds": report.stage_seconds}


def measure(local: Path | None, url: str, queries: list[str], warmup: int, model: str) -> dict[str, Any]:
    """Warm latencies per mode of the local folder (unless None), the PostgreSQL store ranking
    in SQL alone, and, where the store has its pg_textsearch index, the store taking candidates
    from it; the stores take turns query by query. `same_top10`: the store's top 10 equals the
    local one; `same_top10_as_sql`: pg_textsearch's equals the SQL-only one."""
    import contextlib

    from index.embedding.encoder import encoder_for
    from index.storage.postgres import textsearch
    from search.engine import Engine

    encoder = encoder_for(model)
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        engines = {"local": stack.enter_context(Engine.open(local, encoder=encoder))} if local is not None else {}
        os.environ[textsearch.SWITCH] = "off"  # read once, when the store is opened
        engines["postgres"] = stack.enter_context(Engine.open(url, encoder=encoder))
        os.environ[textsearch.SWITCH] = "on"
        candidate = stack.enter_context(Engine.open(url, encoder=encoder))
        del os.environ[textsearch.SWITCH]
        fast_path = candidate.stats().keyword_fast_path
        if fast_path.startswith(textsearch.EXTENSION):
            engines["pg_textsearch"] = candidate
        for mode in MODES:
            for text in queries[:warmup]:
                for engine in engines.values():
                    engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
            times: dict[str, list[float]] = {name: [] for name in engines}
            same = {"same_top10": 0, "same_top10_as_sql": 0}
            for text in queries:
                top: dict[str, list[str]] = {}
                for name, engine in engines.items():
                    with stopwatch() as t:
                        top[name] = [h.id for h in engine.search(text, k=10, mode=mode)]  # type: ignore[arg-type]
                    times[name].append(t["s"])
                same["same_top10"] += top.get("local") == top["postgres"]
                same["same_top10_as_sql"] += top.get("pg_textsearch") == top["postgres"]
            results[mode] = {name: latency_summary(seconds) for name, seconds in times.items()} | same
    return {"results": results, "keyword_fast_path": fast_path}


# What `measure` can compare: the first and second store, the agreement count, the columns.
LOCAL_VS_POSTGRES = ("local", "postgres", "same_top10",
                     ["local p50 ms", "local p95 ms", "PostgreSQL p50 ms", "PostgreSQL p95 ms", "p50 PG / local", "same top 10"])
SQL_VS_CANDIDATES = ("postgres", "pg_textsearch", "same_top10_as_sql",
                     ["SQL BM25F p50 ms", "SQL BM25F p95 ms", "pg_textsearch candidates p50 ms",
                      "pg_textsearch candidates p95 ms", "p50 candidates / SQL", "same top 10 as SQL"])


def comparison_table(results: dict[tuple[str, ...], dict[str, Any]], comparison: tuple[str, str, str, list[str]],
                     queries: int, leading: list[str]) -> str | None:
    """A markdown table of one comparison over `measure` results (keyed by their leading cells,
    named by `leading`), per mode; None when no result holds both stores."""
    first, second, agreement, columns = comparison
    rows = []
    for cells, measured in results.items():
        for mode in MODES:
            both = measured[mode]
            if first not in both or second not in both:
                continue
            a, b = both[first], both[second]
            rows.append([*cells, mode, a["p50_ms"], a["p95_ms"], b["p50_ms"], b["p95_ms"], b["p50_ms"] / a["p50_ms"],
                         f"{both[agreement]}/{queries}"])
    return markdown_table([*leading, "mode (warm, k=10)", *columns], rows) if rows else None


def _textsearch_available(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        return bool(conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_textsearch'").fetchone()[0])  # type: ignore[index]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    model = resolve_model(args.model)
    from index.storage.postgres.textsearch import SWITCH

    os.environ[SWITCH] = "on"  # the builds give a server with pg_textsearch its index
    args.work.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.work / "embeddings.sqlite"
    everything = args.work / "reuters.jsonl"
    convert_reuters(args.data / REUTERS, everything, None)
    base = args.work / f"reuters-base-{args.base}.jsonl"
    base.write_text("".join(everything.read_text(encoding="utf-8").splitlines(keepends=True)[: args.base]), encoding="utf-8")
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    from index.storage.postgres.connection import redact

    command = redact(command_line(__file__, argv))  # a --db password is never printed

    server = None
    if args.db:
        root_url = args.db
    else:
        from index.storage.postgres.local_server import LocalPostgres

        server = LocalPostgres.start()
        root_url = server.url()
    try:
        sizes: dict[int, dict[str, Any]] = {}
        for size in args.sizes:
            jsonl = args.work / f"reuters-{args.base}x-{size}.jsonl"
            corpus = replicate_jsonl(base, jsonl, size)
            database = f"bench_{size}"
            url = _database(root_url, database, server)
            print(f"building {size:,} articles ({corpus['distinct_texts']:,} distinct texts): local ...", flush=True)
            folder = args.work / f"index-{args.base}x-{size}"
            if args.parallel_builds:
                # spawn: the builds import the model runtime; a fork of this process would share its state
                with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
                    building = [pool.submit(_build, jsonl, folder, cache, model), pool.submit(_build, jsonl, url, cache, model)]
                    local, postgres = (future.result() for future in building)
                print(f"  at once: local {local['seconds']:.0f} s, PostgreSQL {postgres['seconds']:.0f} s", flush=True)
            else:
                local = _build(jsonl, folder, cache, model)
                print(f"  local {local['seconds']:.0f} s; PostgreSQL ...", flush=True)
                postgres = _build(jsonl, url, cache, model)
                print(f"  PostgreSQL {postgres['seconds']:.0f} s", flush=True)
            sizes[size] = {"corpus": corpus, "build": {"local": local, "postgres": postgres}, "url": database}

        waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
        info = {**machine_info(), "waited_for_load_s": waited}
        print(header("Local folder vs PostgreSQL store (replicated Reuters)", command, info), flush=True)
        sampler = LoadSampler().start()
        for size in args.sizes:
            url = _database(root_url, f"bench_{size}", None)
            sizes[size]["query"] = measure(args.work / f"index-{args.base}x-{size}", url, queries, args.warmup, model)
        load_during = sampler.stop()
        textsearch = _textsearch_available(root_url)
    finally:
        if server is not None:
            server.stop()

    by_size = {(f"{size:,}",): result["query"]["results"] for size, result in sizes.items()}
    for comparison in (LOCAL_VS_POSTGRES, SQL_VS_CANDIDATES):
        table = comparison_table(by_size, comparison, len(queries), ["articles"])
        if table:
            print(table + "\n")
    print(markdown_table(
        ["articles", "passages", "local build s", "PostgreSQL build s", "PG / local", "embedded"],
        [[f"{size:,}", r["build"]["postgres"]["passages"], r["build"]["local"]["seconds"], r["build"]["postgres"]["seconds"],
          r["build"]["postgres"]["seconds"] / r["build"]["local"]["seconds"],
          r["build"]["local"]["embedded"] + r["build"]["postgres"]["embedded"]] for size, r in sizes.items()]))
    print(f"\n- {len(queries)} queries from Reuters (seed {args.seed}), {args.warmup} per mode and store first as warm-up")
    print(f"- keyword leg on PostgreSQL: {sizes[args.sizes[0]]['query']['keyword_fast_path']}; pg_textsearch "
          f"{'available' if textsearch else 'not available on this server, so not measured'}; the first table's "
          "PostgreSQL column ranks in SQL alone (ACCORD_PG_TEXTSEARCH=off)")
    print(f"- load average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']}")
    print(f"- builds: {'at once, in two processes (each shared the cores with the other)' if args.parallel_builds else 'one after the other'}")
    payload = {"benchmark": "bench_postgres", "command": command, "machine": info, "load_during": load_during,
               "args": {k: str(v) for k, v in vars(args).items() if k != "db"}, "queries": queries,
               "pg_textsearch": textsearch, "sizes": {str(size): result for size, result in sizes.items()}}
    finish(args.out, payload)
    return payload


def _database(root_url: str, name: str, server: Any) -> str:
    """The URL of database `name` on the server of `root_url`, created when `server` is given or
    it does not exist yet."""
    import psycopg

    base = root_url.rsplit("/", 1)[0]
    with psycopg.connect(root_url, autocommit=True) as conn:
        exists = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0]  # type: ignore[index]
        if not exists:
            from psycopg import sql

            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return f"{base}/{name}"


if __name__ == "__main__":
    main()
