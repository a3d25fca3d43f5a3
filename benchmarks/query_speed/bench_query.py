"""Query latency on a Reuters-21578 index: warm p50/p95 per mode, and cold `accord search` processes.

    python -m benchmarks.query_speed.bench_query DATA --index runs/reuters-index --out runs/bench_query.json

Warm: one `search.engine.Engine.open(index)` kept open; every query is run once per mode with
`engine.search(q, k=10, mode=...)` after a warm-up pass of `--warmup` queries per mode (the
first semantic query loads the model; that is not a warm latency). Cold: the median wall time of
`--cold-runs` whole `accord search` processes (keyword and hybrid), beside `accord --help` and
`python -c pass` for reference.

The queries are made from Reuters itself, with a fixed seed (`--seed`), from articles with a
body, in five kinds (shares of `--queries`): 40% article titles (lower-cased, tickers like
`<SRD>` and punctuation removed, at most 8 words); 25% "topic place" pairs from an article's
labels (`crude iran`, abbreviations spelled out: `money-fx` -> `foreign exchange`); 20%
questions of the form `news about <topic> in <place>`; 10% quoted two-word phrases from a title;
5% field queries `title:<word>`. Duplicates are dropped.

Without `--index`, a Reuters index (first `--limit` articles with a body) is built in a scratch
folder first; `bench_index.py --keep-index DIR` leaves one to reuse.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import REUTERS, SHARES, convert_reuters, make_queries
from benchmarks.common.machine import (
    REPO,
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    model_module,
    resolve_model,
    stopwatch,
    wait_for_quiet,
    write_json,
)

MODES = ("keyword", "semantic", "hybrid")








def warm_latencies(index_dir: Path, queries: list[tuple[str, str]], modes: Sequence[str], warmup: int,
                   model: str) -> dict[str, Any]:
    """Per mode, the latency of each query through one open Engine, after a warm-up pass."""
    from index.embedding.encoder import encoder_for
    from search.engine import Engine

    results: dict[str, Any] = {}
    with Engine.open(index_dir, encoder=encoder_for(model)) as engine:
        stats = engine.stats()
        for mode in modes:
            for _kind, text in queries[:warmup]:
                engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
        for mode in modes:
            seconds, empty = [], 0
            for _kind, text in queries:
                with stopwatch() as t:
                    hits = engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
                seconds.append(t["s"])
                empty += not hits
            results[mode] = {**latency_summary(seconds), "queries_without_hits": empty}
    results["index"] = {"articles": stats.articles, "passages": stats.passages, "model": stats.model}
    return results


def cold_runs(commands: dict[str, list[str]], runs: int) -> dict[str, Any]:
    """Median, min and max wall time of `runs` runs of each command, as separate processes."""
    results = {}
    for name, command in commands.items():
        seconds = []
        for _ in range(runs):
            with stopwatch() as t:
                done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            seconds.append(t["s"])
        results[name] = {"runs": runs, "median_s": statistics.median(seconds), "min_s": min(seconds),
                         "max_s": max(seconds), "command": command}
    return results


def accord_command(model_spec: str) -> list[str]:
    """How to start `accord`: its console script, or through Python when a MODULE:NAME model needs importing."""
    module = model_module(model_spec)
    if module:
        return [sys.executable, "-c", f"import {module}; from cli import main; main()"]
    script = Path(sys.executable).parent / "accord"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cli"]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (reuters21578/)")
    parser.add_argument("--index", type=Path, help="an existing Reuters index (default: build one)")
    parser.add_argument("--limit", type=int, help="without --index: index the first N Reuters articles with a body")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=10, help="queries per mode run before timing")
    parser.add_argument("--cold-runs", type=int, default=5)
    add_model_option(parser)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the report and return (and optionally write) the results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    model = resolve_model(args.model)
    queries = make_queries(args.data / REUTERS, args.queries, args.seed)
    notes = [f"{len(queries)} queries from Reuters (seed {args.seed}): "
             + ", ".join(f"{sum(1 for k, _ in queries if k == kind)} {kind}" for kind, _ in SHARES)
             + f"; e.g. {', '.join(repr(q) for _, q in queries[:: max(len(queries) // 5, 1)][:5])}"]
    with tempfile.TemporaryDirectory(prefix="accord-bench-query-", dir=args.work) as tmp:
        index_dir = args.index
        if index_dir is None:
            from index.embedding.encoder import encoder_for
            from index.pipeline.builder import build

            jsonl = Path(tmp) / "reuters.jsonl"
            counts = convert_reuters(args.data / REUTERS, jsonl, args.limit)
            index_dir = Path(tmp) / "index"
            with stopwatch() as t:
                build([jsonl], index_dir, encoder=encoder_for(model))
            notes.append(f"index built here in {t['s']:.0f}s from {counts['written']} Reuters articles with a body"
                         + (f" (--limit {args.limit})" if args.limit else ""))
        waited = 0.0
        if not args.no_wait:
            waited = wait_for_quiet(args.max_load, args.max_wait)
        info = {**machine_info(), "waited_for_load_s": waited}
        command = command_line(__file__, argv)
        print(header("Query latency", command, info), flush=True)
        sampler = LoadSampler().start()
        warm = warm_latencies(index_dir, queries, MODES, args.warmup, model)
        notes.append(f"index: {warm['index']['articles']} articles, {warm['index']['passages']} passages, "
                     f"model {warm['index']['model']}")
        accord = accord_command(args.model)
        probe = queries[0][1]
        commands = {
            f"accord search --mode {mode}": [*accord, "search", probe, "--index", str(index_dir), "--mode", mode, "--k", "10"]
            for mode in ("keyword", "hybrid")
        }
        commands["accord --help"] = [*accord, "--help"]
        commands["python -c pass"] = [sys.executable, "-c", "pass"]
        cold = cold_runs(commands, args.cold_runs)
        notes.append(f"cold runs search for {probe!r} with k=10; accord started as {' '.join(accord)}")
    load_during = sampler.stop()
    info_after = machine_info()
    print(markdown_table(["mode (warm, k=10)", "queries", "p50 ms", "p95 ms", "mean ms", "max ms", "no hits"],
                         [[m, warm[m]["n"], warm[m]["p50_ms"], warm[m]["p95_ms"], warm[m]["mean_ms"],
                           warm[m]["max_ms"], warm[m]["queries_without_hits"]] for m in MODES]))
    print()
    print(markdown_table(["cold process", "runs", "median s", "min s", "max s"],
                         [[name, c["runs"], c["median_s"], c["min_s"], c["max_s"]] for name, c in cold.items()]))
    print("\n" + "\n".join(f"- {n}" for n in notes))
    print(f"\nload average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']} "
          f"({load_during['samples']} samples); at the end: {' '.join(map(str, info_after['load_avg']))}")
    payload = {"benchmark": "bench_query", "command": command, "machine": info,
               "load_avg_after": info_after["load_avg"], "load_during": load_during, "args": {k: str(v) for k, v in vars(args).items()},
               "notes": notes, "queries": queries, "results": {"warm": warm, "cold": cold}}
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
