"""Speed and memory of the registered embedding models, each in a fresh process, on the same texts.

    python -m benchmarks.tuning.bench_models DATA/time --passages 256 --models minilm mpnet e5-nano

For each model: the time to load it and embed one text (a cold start), passages per second over
the same passages (the default build's 64-token passages of the collection, cut with each
model's own tokenizer, as `accord index --model` would), single-query latency (p50 over the
dev queries, through `embed_queries` as the Engine does), and the process's peak RSS. Quality is
`accord eval --model` (docs/tuning.md, M table).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
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
    peak_rss_mib,
    resolve_model,
    stopwatch,
    wait_for_quiet,
)

CHUNK = 64  # what EmbeddingCache.embed hands the encoder at a time


def measure(data: Path, model: str, passages: int) -> dict[str, Any]:
    """Child process: one model's numbers (see the module docstring)."""
    from index.embedding.encoder import embed_queries, encoder_for
    from index.pipeline.builder import embedding_text, split_article
    from index.storage.manifest import BuildSettings
    from index.text.articles import Article, read_articles

    encoder = encoder_for(resolve_model(model))
    with stopwatch() as load:
        encoder.encode(["load the model before the clock starts"])
    docs = data / "docs.jsonl"
    settings = BuildSettings()
    texts: list[str] = []
    for item in read_articles(docs, docs.read_bytes()):
        if isinstance(item, Article):
            texts += [embedding_text(item, p, settings) for p in split_article(item, encoder, settings)]
        if len(texts) >= passages:
            break
    texts = texts[:passages]
    with stopwatch() as bulk:
        for start in range(0, len(texts), CHUNK):
            encoder.encode(texts[start : start + CHUNK])
    queries = [line.split("\t", 1)[1] for line in (data / "queries-dev.tsv").read_text().splitlines() if "\t" in line]
    seconds = []
    for query in queries[:50]:
        with stopwatch() as one:
            embed_queries(encoder, [query])
        seconds.append(one["s"])
    return {
        "model": encoder.name, "dim": encoder.dim, "load_and_first_s": round(load["s"], 2),
        "passages": len(texts), "passages_per_s": round(len(texts) / bulk["s"], 1),
        "query_p50_ms": round(latency_summary(seconds)["p50_ms"], 1), "peak_rss_mib": round(peak_rss_mib()),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a collection folder with docs.jsonl and queries-dev.tsv (TIME)")
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--models", nargs="+", default=["minilm", "mpnet", "e5-nano"],
                        help="model names or aliases, or MODULE:NAME to import MODULE first (it registers NAME)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.data, args.child, args.passages)))
        return {}
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    print(header("Embedding models", command_line(__file__, argv), info), flush=True)
    sampler = LoadSampler().start()
    results = []
    for model in args.models:
        done = subprocess.run([sys.executable, "-m", "benchmarks.tuning.bench_models", str(args.data), "--child", model, "--passages", str(args.passages)],
                              cwd=REPO, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    load = sampler.stop()
    base = results[0]["passages_per_s"]
    rows = [[r["model"], r["dim"], r["load_and_first_s"], r["passages"], r["passages_per_s"],
             f"{base / r['passages_per_s']:.1f}x", r["query_p50_ms"], r["peak_rss_mib"]] for r in results]
    print(markdown_table(["model", "dim", "load + first text s", "passages", "passages/s", f"cost vs {args.models[0]}",
                          "query p50 ms", "peak RSS MiB"], rows))
    print(f"\nload average while measuring: mean {load['mean']:.2f}, max {load['max']:.2f}")
    payload = {"machine": info, "results": results}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
