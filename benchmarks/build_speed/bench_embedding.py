"""Embedding throughput for indexing: sentence-transformers vs ONNX Runtime variants.

    python -m benchmarks.build_speed.bench_embedding DATA/time --passages 500 --out docs/bench-embedding.json

Passages are cut from the first articles of `DATA/docs.jsonl` exactly as the builder cuts them
(default build settings, the title in front of each passage). Every variant embeds them the way
`EmbeddingCache.embed` calls an encoder (chunks of 64 texts), either in document order or sorted
by length first (`sorted`). Reported: passages/s (median of --repeats timed passes after a
warm-up batch; the configurations take turns chunk by chunk, so that a change in the machine's
load hits all of them alike), the speed ratio to sentence-transformers measured in the same run, the cosine of
each vector to sentence-transformers' (min and mean), and the overlap of the 10 nearest passages
per dev query (queries embedded by the same variant) with sentence-transformers' top 10.

Variants: `st` (sentence-transformers, the reference), `ort-fp32` (the exported model),
`ort-fp32-opt` (ONNX Runtime's BERT fusions: attention, gelu, layer norm), `int8` (dynamic
quantisation of the MatMul weights per channel: the cached `#onnx-int8` model), `int8-all-ops`
(the quantiser's default op types, embedding tables included), `int8-opt` (quantised after
fusion), `int8-tensor` (MatMul weights per tensor). Thread counts and batch sizes are options. Prints the command, the
machine and the load average next to the table; --out writes everything as JSON.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from benchmarks.common.machine import finish
from index.embedding.onnx_encoder import OnnxEncoder
from index.embedding.onnx_export import ensure_onnx
from index.embedding.torch_encoder import MiniLMEncoder
from index.pipeline.builder import embedding_text, split_article
from index.storage.manifest import BuildSettings
from index.text.articles import Article, read_articles

CHUNK = 64  # what EmbeddingCache.embed hands the encoder at a time


def load_passages(data: Path, limit: int, tokenizer: MiniLMEncoder) -> list[str]:
    docs = data / "docs.jsonl"
    settings = BuildSettings()
    texts: list[str] = []
    for item in read_articles(docs, docs.read_bytes()):
        if not isinstance(item, Article):
            continue
        texts += [embedding_text(item, p, settings) for p in split_article(item, tokenizer, settings)]
        if len(texts) >= limit:
            break
    return texts[:limit]


def load_queries(data: Path) -> list[str]:
    path = data / "queries-dev.tsv"
    if not path.exists():
        return []
    return [line.split("\t", 1)[1].strip() for line in path.read_text().splitlines() if "\t" in line]


def chunks_of(texts: list[str], order: str) -> list[list[int]]:
    """Row numbers in the chunks EmbeddingCache.embed would hand the encoder."""
    index = list(range(len(texts)))
    if order == "sorted":
        index.sort(key=lambda i: -len(texts[i]))  # as EmbeddingCache.embed orders them
    return [index[start : start + CHUNK] for start in range(0, len(index), CHUNK)]


def embed_all(encoder, texts: list[str], order: str) -> np.ndarray:
    out = np.zeros((len(texts), 384), dtype=np.float32)
    for rows in chunks_of(texts, order):
        out[rows] = encoder.encode([texts[i] for i in rows])
    return out


def top10_overlap(ref_p, ref_q, var_p, var_q) -> float:
    if len(ref_q) == 0:
        return float("nan")
    ref = np.argsort(-(ref_q @ ref_p.T), axis=1)[:, :10]
    var = np.argsort(-(var_q @ var_p.T), axis=1)[:, :10]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ref, var)]))


def build_models(work: Path, wanted: set[str]) -> dict[str, Path]:
    """The ONNX files of the variants: cached exports plus benchmark-only ones under `work`."""
    fp32 = ensure_onnx("fp32")
    models = {"ort-fp32": fp32}
    if "int8" in wanted:
        models["int8"] = ensure_onnx("int8")
    if wanted & {"ort-fp32-opt", "int8-opt"}:
        from onnxruntime.transformers.optimizer import optimize_model

        opt = optimize_model(str(fp32), model_type="bert", num_heads=12, hidden_size=384, opt_level=1, use_gpu=False)
        models["ort-fp32-opt"] = work / "fp32-opt.onnx"
        opt.save_model_to_file(str(models["ort-fp32-opt"]))
    if wanted & {"int8-opt", "int8-tensor", "int8-all-ops"}:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        if "int8-all-ops" in wanted:  # the quantiser's default op types: the embedding tables too
            models["int8-all-ops"] = work / "int8-all-ops.onnx"
            quantize_dynamic(str(fp32), str(models["int8-all-ops"]), per_channel=True, weight_type=QuantType.QInt8)

        if "int8-opt" in wanted:
            models["int8-opt"] = work / "int8-opt.onnx"
            quantize_dynamic(
                str(models["ort-fp32-opt"]), str(models["int8-opt"]), per_channel=True, weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul", "Attention"],
                extra_options={"DefaultTensorType": 1},  # onnx.TensorProto.FLOAT: fused ops have no inferred type
            )
        if "int8-tensor" in wanted:
            models["int8-tensor"] = work / "int8-tensor.onnx"
            quantize_dynamic(
                str(fp32), str(models["int8-tensor"]), op_types_to_quantize=["MatMul"], per_channel=False, weight_type=QuantType.QInt8
            )
    return models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder with docs.jsonl (and queries-dev.tsv)")
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", default="st,ort-fp32,ort-fp32-opt,int8,int8-all-ops,int8-opt,int8-tensor")
    parser.add_argument("--orders", default="doc,sorted", help="doc and/or sorted")
    parser.add_argument("--batch-sizes", default="32", help="ONNX batch sizes, e.g. 8,16,32,64")
    parser.add_argument("--threads", default="0", help="ONNX intra-op threads, e.g. 0,1,2 (0: runtime default)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    load = os.getloadavg()
    tokenizer = MiniLMEncoder()
    texts = load_passages(args.data, args.passages, tokenizer)
    queries = load_queries(args.data)
    tokens = tokenizer.count_tokens(texts)
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"load at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"passages: {len(texts)}, tokens mean {statistics.mean(tokens):.0f}, max {max(tokens)}; dev queries: {len(queries)}\n")

    variants = args.variants.split(",")
    orders = args.orders.split(",")
    if variants[0] != "st":
        raise SystemExit("put 'st' first in --variants: it is the reference")
    logging.getLogger().addHandler(logging.NullHandler())  # the quantiser's advice on the root logger
    rows = []
    with tempfile.TemporaryDirectory() as work:
        models = build_models(Path(work), set(variants))
        configs = []  # (name, order, encoder, batch, threads)
        for variant in variants:
            for order in orders:
                if variant == "st":
                    configs.append(("st", order, MiniLMEncoder(batch_size=32), 32, None))
                    continue
                for b in args.batch_sizes.split(","):
                    for t in args.threads.split(","):
                        encoder = OnnxEncoder(models[variant], batch_size=int(b), threads=int(t))
                        configs.append((variant, order, encoder, int(b), int(t)))
        for _name, _order, encoder, _b, _t in configs:
            encoder.encode(texts[:CHUNK])  # warm-up: model load, session creation, first allocation
        # Interleaved: chunk by chunk, every configuration embeds its next chunk of 64 in turn, so
        # a change in the machine's load within a pass hits all configurations alike.
        times: list[list[float]] = [[] for _ in configs]
        loads: list[float] = []
        vectors = [np.zeros((len(texts), 384), dtype=np.float32) for _ in configs]
        plans = [chunks_of(texts, order) for _name, order, *_rest in configs]
        for _round in range(args.repeats):
            loads.append(os.getloadavg()[0])
            spent = [0.0] * len(configs)
            for step in range(len(plans[0])):
                for i, (_name, _order, encoder, _b, _t) in enumerate(configs):
                    chunk = plans[i][step]
                    started = time.perf_counter()
                    vectors[i][chunk] = encoder.encode([texts[r] for r in chunk])
                    spent[i] += time.perf_counter() - started
            for i, seconds in enumerate(spent):
                times[i].append(seconds)
            print(f"  round {_round + 1}: " + ", ".join(f"{c[0]}/{c[1]}/b{c[3]}/t{c[4]} {len(texts) / t:.1f}" for c, t in zip(configs, spent)), file=sys.stderr)
        ref_p = vectors[0]
        ref_q = configs[0][2].encode(queries) if queries else np.zeros((0, 384), np.float32)
        for i, (name, order, encoder, batch, threads) in enumerate(configs):
            query_vectors = encoder.encode(queries) if queries else np.zeros((0, 384), np.float32)
            cosines = (vectors[i] * ref_p).sum(axis=1)
            seconds = statistics.median(times[i])
            rows.append(
                {
                    "variant": name,
                    "order": order,
                    "batch": batch,
                    "threads": threads,
                    "seconds": seconds,
                    "times": times[i],
                    "passages_per_s": len(texts) / seconds,
                    "min_cosine": float(cosines.min()),
                    "mean_cosine": float(cosines.mean()),
                    "top10_overlap": top10_overlap(ref_p, ref_q, vectors[i], query_vectors),
                    "load_1min": statistics.median(loads),
                }
            )
    base = next(r for r in rows if r["variant"] == "st" and r["order"] == orders[0])["passages_per_s"]
    print("| variant | order | batch | threads | passages/s | vs ST | min cos | mean cos | top-10 overlap | load (median) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        threads = "-" if r["threads"] is None else (r["threads"] or "default")
        print(
            f"| {r['variant']} | {r['order']} | {r['batch']} | {threads} | {r['passages_per_s']:.1f} | "
            f"{r['passages_per_s'] / base:.2f}x | {r['min_cosine']:.4f} | {r['mean_cosine']:.4f} | "
            f"{r['top10_overlap']:.3f} | {r['load_1min']:.2f} |"
        )
    finish(args.out, {
        "command": sys.argv,
        "machine": {"processor": platform.processor(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "load_start": load, "passages": len(texts), "rows": rows,
    })


if __name__ == "__main__":
    main()
