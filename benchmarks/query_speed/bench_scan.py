"""Exact vector search over a compressed copy of the vectors (`CompressedScan`,
index/storage/vectors.py) against faiss's plain exact scan: CPU per search by size, code and
number of results, how often the copy answered, its build time and memory, and that every answer
it gave is the plain scan's, bit for bit.

    python -m benchmarks.query_speed.bench_scan --real INDEX --data DATA --sizes 12682,50000,99000 --out runs/bench_scan.json

Vectors: `--real INDEX` takes an index's passage vectors, and a size beyond them adds copies of
them moved by noise (cosine about 0.75 to their source), so that the scores near the top stay
like real text's; queries are `--queries` Reuters queries (bench_query.py's, seed 21578) embedded
by the index's model (`--data`). Without `--real`: unit vectors of `--dim` dimensions around 2,000
random centres, queries drawn the same way (bench_vectors.py's synthetic vectors).

Each size and code (one copy at a time, as a store holds one): the plain scan
(IndexIDMap2(IndexFlatIP).search on one faiss thread, with the store's selectors) and the code's
`CompressedScan.search` (the plain scan where it answers None, as the store does), in turns query
by query with the order rotating, `--rounds` times; CPU (process) time per search for each
number of results asked (`--limits`: 80 and 400 are the passages a k=10 search asks for on page
two and one) over all vectors, and at 400 among a random half of the ids (a filtered search).
Prints a markdown table, the command, the machine and the load; --out writes JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    wait_for_quiet,
)
from benchmarks.query_speed.bench_vectors import real_queries, unit
from index.storage.manifest import read_manifest
from index.storage.vectors import CompressedScan, use_one_faiss_thread


def index_vectors(index_dir: Path) -> np.ndarray:
    """The passage vectors of an index's live generation (its base segment)."""
    index = faiss.read_index(str(index_dir / read_manifest(index_dir).generation / "vectors.faiss"))
    return faiss.downcast_index(index.index).reconstruct_n(0, index.ntotal)


def around(centres: np.ndarray, n: int, rng: np.random.Generator, spread: float = 0.88) -> np.ndarray:
    """Unit vectors near random ones of `centres` (bench_vectors.py's, of any dimension)."""
    picks = centres[rng.integers(0, len(centres), n)]
    return unit(picks + spread * unit(rng.standard_normal(picks.shape)))


def plain_search(index: faiss.IndexIDMap2, query: np.ndarray, k: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
    """faiss's exact scan, as the store runs it."""
    params = None
    if allowed is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))
    scores, ids = index.search(query, k, params=params)
    found = ids[0] >= 0
    return list(zip(ids[0][found].tolist(), scores[0][found].tolist()))


def measure(index: faiss.IndexIDMap2, scans: dict[str, CompressedScan], queries: np.ndarray, k: int,
            allowed: np.ndarray | None, rounds: int) -> dict[str, Any]:
    """CPU ms per search of the plain scan and of each copy, in turns; answers checked."""
    names = ["plain", *scans]
    cpu = dict.fromkeys(names, 0.0)
    answered = dict.fromkeys(scans, 0)
    differ = dict.fromkeys(scans, 0)
    allowed_list = None if allowed is None else allowed.tolist()
    for round_number in range(rounds):
        for number, query in enumerate(queries):
            q = query.reshape(1, -1)
            turn = (number + round_number) % len(names)
            answers: dict[str, list[tuple[int, float]]] = {}
            for name in names[turn:] + names[:turn]:
                started = time.process_time()
                if name == "plain":
                    found = plain_search(index, q, k, allowed)
                else:
                    copy = scans[name].search(q, k, allowed_list)
                    found = plain_search(index, q, k, allowed) if copy is None else copy
                cpu[name] += time.process_time() - started
                answers[name] = found
                if name != "plain" and copy is not None and round_number == 0:
                    answered[name] += 1
            if round_number == 0:
                for name in scans:
                    differ[name] += answers[name] != answers["plain"]
    searches = rounds * len(queries)
    ms = {name: cpu[name] / searches * 1000 for name in names}
    return {"k": k, "filtered": allowed is not None, "ms": ms, "answered": answered, "differ": differ,
            "queries": len(queries)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, help="an index folder whose passage vectors are measured (else synthetic ones)")
    parser.add_argument("--data", type=Path, help="with --real: the data folder holding reuters21578/ (queries)")
    parser.add_argument("--sizes", default="12682,50000,99000", help="vectors per size, comma-separated")
    parser.add_argument("--dim", type=int, default=384, help="dimensions of synthetic vectors")
    parser.add_argument("--codes", default="bf16,fp16,sq8,sq8u", help="the copy's codes to compare")
    parser.add_argument("--limits", default="80,400", help="results asked per search, comma-separated")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    add_run_options(parser)
    args = parser.parse_args()
    if args.real and not args.data:
        parser.error("--real needs --data DATA (the folder holding reuters21578/) for its queries")
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = machine_info()
    command = command_line(__file__, sys.argv[1:])
    print(header("Exact search over a compressed copy vs the plain scan", command, info))
    use_one_faiss_thread()
    rng = np.random.default_rng(0)
    if args.real:
        source = unit(index_vectors(args.real))
        queries = real_queries(args.real, args.data, args.queries)
    else:
        source = unit(rng.standard_normal((2000, args.dim)))
        queries = around(source, args.queries, rng)
    rows: list[dict[str, Any]] = []
    for size in map(int, args.sizes.split(",")):
        if args.real:
            base = source[:size]
            vectors = base if size <= len(base) else np.vstack([base, around(source, size - len(base), rng)])
        else:
            vectors = around(source, size, rng)
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
        index.add_with_ids(np.ascontiguousarray(vectors), np.arange(size, dtype=np.int64))
        half = np.sort(rng.choice(size, size // 2, replace=False)).astype(np.int64)
        cases = [(int(k), None) for k in args.limits.split(",")] + [(400, half)]
        for code in args.codes.split(","):  # one copy at a time, as a store holds one
            started = time.process_time()
            scan = CompressedScan(index, code)
            build_ms = (time.process_time() - started) * 1000
            for k, allowed in cases:
                result = measure(index, {code: scan}, queries, k, allowed, args.rounds)
                rows.append({"size": size, "dim": vectors.shape[1], "code": code, "build_cpu_ms": build_ms,
                             "copy_mb": scan.nbytes / 1e6, "exact_mb": size * vectors.shape[1] * 4 / 1e6,
                             "k": k, "filtered": result["filtered"], "plain_ms": result["ms"]["plain"],
                             "copy_ms": result["ms"][code], "answered": result["answered"][code],
                             "differ": result["differ"][code], "queries": result["queries"]})
                print(f"  {size} {code} k={k}{' filtered' if allowed is not None else ''}: plain {result['ms']['plain']:.3f} ms, "
                      f"copy {result['ms'][code]:.3f} ms", file=sys.stderr)
            del scan
        del index
    print(markdown_table(
        ["vectors", "dims", "code", "copy build CPU ms", "copy MB (exact MB)", "results", "among",
         "plain CPU ms", "copy CPU ms", "copy / plain", "answered by the copy", "answers differing"],
        [[r["size"], r["dim"], r["code"], r["build_cpu_ms"], f"{r['copy_mb']:.1f} ({r['exact_mb']:.1f})", r["k"],
          "half" if r["filtered"] else "all", r["plain_ms"], r["copy_ms"], f"{r['copy_ms'] / r['plain_ms']:.2f}x",
          f"{r['answered']}/{r['queries']}", r["differ"]] for r in rows]))
    bad = sum(r["differ"] for r in rows)
    if bad:
        print(f"\nERROR: {bad} answers of the copy differ from the plain scan's")
    finish(args.out, {"command": command, "machine": info, "waited_s": waited, "rows": rows})
    if bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
