"""Exact (IndexFlatIP) vs HNSW vector search by index size: latency, recall@10, build time, memory.

    python -m benchmarks.query_speed.bench_vectors --sizes 10000,50000,100000,200000,400000 --out docs/bench-vectors.json

Vectors are synthetic: unit vectors scattered around cluster centres (default 2,000 random
centres; `--centres INDEX_DIR` takes the passage vectors of a real index as centres), with noise
set so that a vector's cosine to its centre is about 0.75, like passages of one topic. Queries are
drawn the same way. Random data is harder for HNSW than real text embeddings, so the recall here
is a floor rather than a promise. `--real INDEX_DIR --real-queries DATA` measures on an index's
own passage vectors instead, with real queries (Reuters queries as bench_query.py makes them,
embedded by the index's model).

For each size and graph storage (`--storage flat,fp16,sq8`: the vectors inside the graph as
float32, float16 or 8-bit scalar-quantised): the time to build each index the way index/storage/vectors.py does (HNSW: M=32,
efConstruction=80, built from the exact index's vectors), bytes per vector of each serialised
index, the median latency of a single-query search (as the engine searches: one query at a time)
for k=10 and for k=400 (what the engine asks for when k=10: 100 articles x 4 passages), and
recall@10 against the exact search at several efSearch values. Prints a markdown table, the
command, the machine and the load; --out writes JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import faiss
import numpy as np

from benchmarks.common.machine import finish
from index.storage import vectors as vector_module
from index.storage.vectors import VectorWriter

DIM = 384
ENGINE_FETCH = 400  # passages the engine asks the vector store for when k=10


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load_centres(index_dir: Path | None, count: int, rng: np.random.Generator) -> np.ndarray:
    if index_dir is None:
        return unit(rng.standard_normal((count, DIM)))
    path = next(Path(index_dir).glob("gen-*/vectors.faiss"))
    index = faiss.read_index(str(path))
    inner = index.index if hasattr(index, "id_map") else index  # an IndexIDMap2, or a bare index
    return unit(faiss.downcast_index(inner).reconstruct_n(0, index.ntotal))


def around(centres: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.88) -> np.ndarray:
    """Unit vectors near random centres: cosine to the centre about 1/sqrt(1 + spread^2)."""
    picks = centres[rng.integers(0, len(centres), n)]
    return unit(picks + spread * unit(rng.standard_normal((n, DIM))))


def real_queries(index_dir: Path, data: Path, count: int) -> np.ndarray:
    """`count` Reuters queries (bench_query.py's, seed 21578) embedded by the index's model."""
    from benchmarks.common.corpora import make_queries
    from index.embedding.encoder import encoder_for
    from index.storage.manifest import read_manifest

    texts = [text for _kind, text in make_queries(data / "reuters21578" / "reuters21578.jsonl.gz", count, 21578)]
    encoder = encoder_for(read_manifest(index_dir).model)
    return unit(np.vstack([encoder.encode([text])[0] for text in texts]))


def serialized_bytes(index) -> int:
    return int(faiss.serialize_index(index).size)


def search_latency(index, queries: np.ndarray, k: int, params=None) -> float:
    """Median ms of one-query searches, after one untimed search (thread pools start on the first)."""
    index.search(queries[:1], k) if params is None else index.search(queries[:1], k, params=params)
    times = []
    for query in queries:
        started = time.perf_counter()
        if params is None:
            index.search(query.reshape(1, -1), k)
        else:
            index.search(query.reshape(1, -1), k, params=params)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000,200000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--centres", type=Path, help="an index folder whose vectors serve as cluster centres")
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--ef", default="64,128,256")
    parser.add_argument("--storage", default=vector_module.HNSW_STORAGE,
                        help="comma-separated graph storages to compare: flat (float32), fp16, sq8")
    parser.add_argument("--real", type=Path,
                        help="an index folder: measure on its own passage vectors instead of synthetic ones "
                             "(--sizes and --centres are then ignored); needs --real-queries")
    parser.add_argument("--real-queries", type=Path,
                        help="with --real: the data folder; --queries Reuters queries made as bench_query.py "
                             "makes them, embedded by the index's model")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.real and not args.real_queries:
        parser.error("--real needs --real-queries DATA (the folder holding reuters21578/)")

    rng = np.random.default_rng(0)
    if args.real:
        real = unit(load_centres(args.real, 0, rng))
        queries = real_queries(args.real, args.real_queries, args.queries)
        centres = real
        datasets = [(len(real), lambda: real)]
    else:
        centres = load_centres(args.centres, args.clusters, rng)
        queries = around(centres, args.queries, rng)
        datasets = [(size, lambda size=size: around(centres, size, rng)) for size in map(int, args.sizes.split(","))]
    efs = [int(e) for e in args.ef.split(",")]
    storages = args.storage.split(",")
    load = os.getloadavg()
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, faiss {faiss.__version__}, threads {faiss.omp_get_max_threads()}")
    print(f"load at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; centres: {len(centres)} ({'real' if args.centres or args.real else 'random'})"
          + (f"; vectors: the {len(centres):,} of {args.real}, {len(queries)} real queries" if args.real else "") + "\n")
    rows = []
    for size, make_data in datasets:
        data = make_data()
        started = time.perf_counter()
        writer = VectorWriter(DIM, hnsw_threshold=10**12)
        writer.add(np.arange(size), data)
        flat_build = time.perf_counter() - started
        # The exact index a folder store searches (IndexIDMap2 over IndexFlatIP), made here with
        # faiss itself rather than read out of the writer.
        flat = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
        flat.add_with_ids(data, np.arange(size, dtype=np.int64))
        flat_ms_k10 = search_latency(flat, queries, 10)
        flat_ms_k400 = search_latency(flat, queries, ENGINE_FETCH)
        _scores, truth = flat.search(queries, 10)
        for storage in storages:
            started = time.perf_counter()
            graph = writer.build_hnsw(storage)
            hnsw_build = time.perf_counter() - started
            # Latencies first, one query at a time as the engine searches: a batched search (below)
            # leaves the BLAS and OpenMP thread pools in a state that slows the next single ones.
            row = {
                "size": size,
                "storage": storage,
                "load_1min": os.getloadavg()[0],
                "flat_build_s": flat_build,
                "hnsw_build_s": hnsw_build,
                "flat_bytes_per_vector": serialized_bytes(flat) / size,
                "hnsw_bytes_per_vector": serialized_bytes(graph) / size,
                "flat_ms_k10": flat_ms_k10,
                "flat_ms_k400": flat_ms_k400,
                "hnsw": {},
            }
            for ef in [*efs, ENGINE_FETCH]:
                params = faiss.SearchParametersHNSW(efSearch=ef)
                row["hnsw"][ef] = {"ms_k10": search_latency(graph, queries, 10, params)}
            engine_params = faiss.SearchParametersHNSW(efSearch=max(vector_module.HNSW_EF_SEARCH, ENGINE_FETCH))
            row["hnsw_ms_k400"] = search_latency(graph, queries, ENGINE_FETCH, engine_params)
            for ef in [*efs, ENGINE_FETCH]:
                _s, found = graph.search(queries, 10, params=faiss.SearchParametersHNSW(efSearch=ef))
                row["hnsw"][ef]["recall_at_10"] = float(np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)]))
            rows.append(row)
            print(f"  {size} {storage}: flat {flat_ms_k10:.2f} ms, hnsw built in {hnsw_build:.1f} s "
                  f"(load {row['load_1min']:.2f})", file=sys.stderr)
            del graph
        del data, writer, flat

    print("| vectors | graph storage | exact build s | HNSW build s | exact B/vector | HNSW B/vector | exact ms k=10 | exact ms k=400 | "
          + " | ".join(f"HNSW ef={ef} recall@10 / ms" for ef in efs)
          + f" | HNSW ef={ENGINE_FETCH} (engine) recall@10 / ms k=400 | load |")
    print("|" + "---|" * (9 + len(efs)))
    for r in rows:
        cells = [f"{r['hnsw'][ef]['recall_at_10']:.3f} / {r['hnsw'][ef]['ms_k10']:.2f}" for ef in efs]
        engine = f"{r['hnsw'][ENGINE_FETCH]['recall_at_10']:.3f} / {r['hnsw_ms_k400']:.2f}"
        print(
            f"| {r['size']:,} | {r['storage']} | {r['flat_build_s']:.2f} | {r['hnsw_build_s']:.1f} | {r['flat_bytes_per_vector']:.0f} | "
            f"{r['hnsw_bytes_per_vector']:.0f} | {r['flat_ms_k10']:.2f} | {r['flat_ms_k400']:.2f} | {' | '.join(cells)} | {engine} | {r['load_1min']:.2f} |"
        )
    finish(args.out, {"command": sys.argv, "load_start": load, "rows": rows})


if __name__ == "__main__":
    main()
