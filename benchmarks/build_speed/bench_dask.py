"""Embedding throughput on this process vs a local Dask cluster of 1 and 2 workers, in one run.

    python -m benchmarks.build_speed.bench_dask DATA/time --passages 512 --workers 1,2 --out runs/bench-dask.json

Passages are cut from the first articles of `DATA/docs.jsonl` as the builder cuts them (default
settings, title in front). Every configuration embeds the same texts the way a build does:
`EmbeddingCache.embed` into a fresh cache, with the encoder's own call size (64 texts here; for a
`DaskEncoder`, two chunks of 64 per worker thread). `local` is the model in this process; `dask-N`
is `accord index --workers N`: a `LocalCluster` of N worker processes, one thread each, started by
`index.embedding.distributed.open_cluster` (each worker's ONNX Runtime gets cores/N threads).
Cluster start-up and each worker's model load (a warm-up chunk) are timed apart, not in the rate.

Reported per configuration: passages/s (median of --repeats passes; the configurations take turns
slice by slice, 256 passages by default, each into a fresh cache, so that a change in the
machine's load hits all of them alike), the ratio to `local`
measured in the same run, and whether its vectors equal the local ones bit for bit (with the
largest absolute difference). Prints the command, the machine and the load next to the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    model_module,
    resolve_model,
    wait_for_quiet,
)
from index.embedding.cache import BATCH_SIZE, EmbeddingCache
from index.embedding.encoder import Encoder, encoder_for
from index.pipeline.builder import embedding_text, split_article
from index.storage.manifest import BuildSettings
from index.text.articles import Article, read_articles


def load_passages(docs: Path, limit: int, encoder: Encoder) -> list[str]:
    """The first `limit` passages of `docs`, as the builder would embed them."""
    settings = BuildSettings()
    texts: list[str] = []
    for item in read_articles(docs, docs.read_bytes()):
        if isinstance(item, Article):
            texts += [embedding_text(item, p, settings) for p in split_article(item, encoder, settings)]
        if len(texts) >= limit:
            break
    return texts[:limit]


def embed_slice(encoder: Encoder, cache: EmbeddingCache, texts: list[str]) -> tuple[float, np.ndarray]:
    """Seconds to embed `texts` (none cached yet) through `cache`, as a build does, and the vectors."""
    started = time.perf_counter()
    vectors, embedded = cache.embed(texts, encoder.name, encoder.encode, getattr(encoder, "embed_batch_size", BATCH_SIZE))
    seconds = time.perf_counter() - started
    assert embedded == len(set(texts))
    return seconds, vectors


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder with docs.jsonl (e.g. DATA/time)")
    parser.add_argument("--passages", type=int, default=512)
    parser.add_argument("--workers", default="1,2", help="local cluster sizes to compare with this process")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--slice", type=int, default=4 * BATCH_SIZE, help="passages each configuration embeds before the next takes its turn")
    add_model_option(parser)
    add_run_options(parser)
    args = parser.parse_args(argv)
    import dask

    from index.embedding.distributed import DaskEncoder, open_cluster

    command = command_line(__file__, sys.argv[1:] if argv is None else argv)
    model = resolve_model(args.model)
    module = model_module(args.model)
    sizes = [int(n) for n in args.workers.split(",") if n.strip()]
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = machine_info()
    print(header("Embedding on a Dask cluster", command, info))

    local = encoder_for(model)
    prepare = getattr(local, "prepare", None)
    if prepare is not None:
        prepare()  # the ONNX export, once, before the workers look for it
    texts = load_passages(args.data / "docs.jsonl", args.passages, local)
    tokens = local.count_tokens(texts)
    print(f"passages: {len(texts)}, tokens mean {statistics.mean(tokens):.0f}, max {max(tokens)}\n")

    sampler = LoadSampler().start()
    with ExitStack() as stack, tempfile.TemporaryDirectory() as work:
        # A model registered by a module (MODULE:NAME) must be registered on the workers too.
        stack.enter_context(dask.config.set({"distributed.worker.preload": [module] if module else []}))
        configs: list[dict] = [{"name": "local", "workers": 0, "encoder": local, "start_s": 0.0}]
        for n in sizes:
            started = time.perf_counter()
            client, _label = stack.enter_context(open_cluster(workers=n))
            configs.append({"name": f"dask-{n}", "workers": n, "encoder": DaskEncoder(local, client), "start_s": time.perf_counter() - started})
        for config in configs:  # warm-up: model load in this process and on every worker
            started = time.perf_counter()
            config["encoder"].encode(texts[: BATCH_SIZE * max(config["workers"], 1)])
            config["warmup_s"] = time.perf_counter() - started
        slices = [texts[i : i + args.slice] for i in range(0, len(texts), args.slice)]
        for round_no in range(args.repeats):
            caches = [EmbeddingCache(Path(work) / f"round{round_no}-{c['name']}.sqlite", local.dim) for c in configs]
            spent = [0.0] * len(configs)
            parts: list[list[np.ndarray]] = [[] for _ in configs]
            # Slice by slice, every configuration embeds its copy of the slice in turn, so that a
            # change in the machine's load hits all of them alike.
            for part in slices:
                for i, config in enumerate(configs):
                    seconds, vectors = embed_slice(config["encoder"], caches[i], part)
                    spent[i] += seconds
                    parts[i].append(vectors)
            for i, config in enumerate(configs):
                caches[i].close()
                config.setdefault("times", []).append(spent[i])
                config["vectors"] = np.vstack(parts[i])
            print(f"  round {round_no + 1}: " + ", ".join(f"{c['name']} {len(texts) / c['times'][-1]:.1f}/s" for c in configs), file=sys.stderr)
    load = sampler.stop()

    reference = configs[0]["vectors"]
    rows, results = [], []
    base_rate = len(texts) / statistics.median(configs[0]["times"])
    for config in configs:
        seconds = statistics.median(config["times"])
        rate = len(texts) / seconds
        same = bool(np.array_equal(config["vectors"], reference))
        diff = float(np.abs(config["vectors"] - reference).max())
        result = {
            "config": config["name"], "workers": config["workers"], "passages": len(texts), "seconds": seconds,
            "times": config["times"], "passages_per_s": rate, "x_local": rate / base_rate, "identical": same,
            "max_abs_diff": diff, "cluster_start_s": config["start_s"], "warmup_s": config["warmup_s"],
        }
        results.append(result)
        rows.append([config["name"], f"{rate:.1f}", f"{rate / base_rate:.2f}", "yes" if same else f"no ({diff:.1e})",
                     f"{config['start_s']:.1f}", f"{config['warmup_s']:.1f}"])
    print(markdown_table(["config", "passages/s", "x local", "vectors identical", "cluster start s", "warm-up s"], rows))
    print(f"\nload during the passes: mean {load['mean']}, max {load['max']} ({load['samples']} samples)")
    finish(args.out, {"command": command, "machine": info, "waited_s": waited, "model": model,
                      "passages": len(texts), "load": load, "results": results})


if __name__ == "__main__":  # the guard is needed: the workers are spawned processes that import this file
    main()
