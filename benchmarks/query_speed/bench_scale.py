"""Warm query latency and query-process memory at 20k and 100k articles (replicated Reuters).

    python -m benchmarks.query_speed.bench_scale DATA --sizes 20000 100000 --work runs/scale --out runs/bench_scale.json

Corpus: the 19,043 Reuters-21578 articles with a body, then copies of them until there are
`size` articles. A copy gets a new id (`<newid>-copyN`) and its dates moved N years on (1988,
1989, ...), so date filters and facets see different articles; its title and body are unchanged,
so its passages are the same texts and their vectors come from the embedding cache: the real
model's vectors for that text, computed once. That is what makes 100k articles affordable on
two cores, and it is why every number from this script says "replicated". The copies are
near-duplicates of each other, so collapsing costs what it would cost on a wire-service corpus
full of repeated stories.

Each index is built (or brought up to date) with the real model at the default settings, all
sizes sharing one embedding cache (`--work`/embeddings.sqlite), so a second run embeds nothing.

Measurement, per size, in a fresh spawned process so its peak RSS is the query process's own:
open `search.engine.Engine` once, run `--warmup` queries per mode, then every query once in each
mode through `engine.search(q, k=10)` (hits with snippets: what an API caller gets) and once
through each leg alone: `engine.keyword_run` (whoosh BM25F, 100 candidates), the query encoder,
and `engine.semantic_run` (encoder plus vector search). Queries are made from Reuters as in
`bench_query.py` (titles, topic-place pairs, questions, phrases, field queries; fixed seed).
Resident memory is read after opening, after the timed queries, and as the peak (VmHWM).
"""

from __future__ import annotations

import argparse
import multiprocessing
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
    dir_size_mib,
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
LEGS = ("keyword leg", "encode query", "semantic leg")
LEG_LIMIT = 100  # candidates per leg: what a k=10 search asked each leg for when section 5 was measured (30 since)




def build_index(jsonl: Path, index_dir: Path, cache: Path, model: str) -> dict[str, Any]:
    """Build or update the index of `jsonl` with the shared embedding cache; time and counts."""
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build

    with stopwatch() as t:
        report = build([jsonl], index_dir, encoder=encoder_for(model), embedding_cache=cache)
    from index.storage.manifest import read_manifest

    live = index_dir / read_manifest(index_dir).generation  # not the previous one, kept a cycle for readers
    return {"seconds": t["s"], "embedded": report.embedded, "added": report.added,
            "index_mib": dir_size_mib(live)}


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status in MiB: VmRSS (resident now) or VmHWM (peak).

    VmHWM rather than getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a spawned
    child would report its parent's peak. NaN where there is no /proc.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def measure_queries(index_dir: str, queries: list[str], warmup: int, model_spec: str) -> dict[str, Any]:
    """Child process: per-mode and per-leg warm latencies through one open Engine, and memory."""
    from index.embedding.encoder import embed_queries, encoder_for
    from search.engine import Engine

    model = resolve_model(model_spec)
    rss = {"start_mib": _status_mib("VmRSS")}
    results: dict[str, Any] = {}
    with Engine.open(index_dir, encoder=encoder_for(model)) as engine:
        stats = engine.stats()
        rss["opened_mib"] = _status_mib("VmRSS")
        for mode in MODES:
            for text in queries[:warmup]:
                engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
        rss["warm_mib"] = _status_mib("VmRSS")
        for mode in MODES:
            seconds = []
            for text in queries:
                with stopwatch() as t:
                    engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
                seconds.append(t["s"])
            results[mode] = latency_summary(seconds)
        legs: dict[str, list[float]] = {leg: [] for leg in LEGS}
        for text in queries:
            with stopwatch() as t:
                engine.keyword_run(text, LEG_LIMIT)
            legs["keyword leg"].append(t["s"])
            with stopwatch() as t:
                embed_queries(engine.encoder, [text])
            legs["encode query"].append(t["s"])
            with stopwatch() as t:
                engine.semantic_run(text, LEG_LIMIT)
            legs["semantic leg"].append(t["s"])
        results.update({leg: latency_summary(seconds) for leg, seconds in legs.items()})
        rss["end_mib"] = _status_mib("VmRSS")
    rss["peak_mib"] = max(_status_mib("VmHWM"), rss["end_mib"])  # VmHWM is updated lazily
    vectors = Path(index_dir) / stats.generation
    return {"results": results, "rss": rss, "articles": stats.articles, "passages": stats.passages,
            "model": stats.model, "hnsw": any(vectors.glob("*.hnsw"))}


def in_fresh_process(func: Any, *args: Any) -> dict[str, Any]:
    """Run `func(*args)` in a newly spawned interpreter, so its memory is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000], help="articles per index")
    parser.add_argument("--work", type=Path, required=True,
                        help="folder for the corpora, indexes and the shared embedding cache (kept for re-runs)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=20, help="queries per mode run before timing")
    add_model_option(parser)
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Build the indexes, measure each in a fresh process, print the report; return the results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    model = resolve_model(args.model)
    args.work.mkdir(parents=True, exist_ok=True)
    base = args.work / "reuters.jsonl"
    convert_reuters(args.data / REUTERS, base, None)
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    command = command_line(__file__, argv)

    sizes: dict[int, dict[str, Any]] = {}
    for size in args.sizes:
        jsonl = args.work / f"reuters-{size}.jsonl"
        corpus = replicate_jsonl(base, jsonl, size)
        print(f"building {size:,} articles ({corpus['distinct_texts']:,} distinct texts) ...", flush=True)
        sizes[size] = {"corpus": corpus,
                       "build": build_index(jsonl, args.work / f"index-{size}", args.work / "embeddings.sqlite", model)}

    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    print(header("Warm queries and memory at scale (replicated Reuters)", command, info), flush=True)
    sampler = LoadSampler().start()
    for size in args.sizes:
        sizes[size]["query"] = in_fresh_process(measure_queries, str(args.work / f"index-{size}"), queries,
                                                args.warmup, args.model)
    load_during = sampler.stop()

    rows = []
    for size, result in sizes.items():
        measured = result["query"]["results"]
        keyword_leg, keyword_search = measured["keyword leg"]["p50_ms"], measured["keyword"]["p50_ms"]
        for name in (*MODES, *LEGS):
            p50 = measured[name]["p50_ms"]
            rows.append([f"{size:,}", name, p50, measured[name]["p95_ms"], measured[name]["max_ms"],
                         p50 / keyword_leg, p50 / keyword_search])
    print(markdown_table(["articles", "what (warm, k=10)", "p50 ms", "p95 ms", "max ms", "p50 / keyword leg",
                          "p50 / keyword search"], rows))
    print()
    print(markdown_table(
        ["articles", "passages", "HNSW", "build s", "embedded", "index MiB", "RSS open MiB", "RSS end MiB",
         "peak RSS MiB"],
        [[f"{size:,}", r["query"]["passages"], "yes" if r["query"]["hnsw"] else "no", r["build"]["seconds"],
          r["build"]["embedded"], r["build"]["index_mib"], r["query"]["rss"]["opened_mib"],
          r["query"]["rss"]["end_mib"], r["query"]["rss"]["peak_mib"]] for size, r in sizes.items()]))
    print(f"\n- {len(queries)} queries from Reuters (seed {args.seed}), {args.warmup} per mode first as warm-up; "
          f"legs ask for {LEG_LIMIT} candidates, as a k=10 search does")
    print("- corpus: Reuters-21578 articles with a body, replicated with new ids and dates moved on; "
          "copies share their text, so their vectors come from the embedding cache")
    print(f"- load average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']}")
    payload = {"benchmark": "bench_scale", "command": command, "machine": info, "load_during": load_during,
               "args": {k: str(v) for k, v in vars(args).items()}, "queries": queries,
               "sizes": {str(size): result for size, result in sizes.items()}}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
