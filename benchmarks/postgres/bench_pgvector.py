"""Where pgvector's HNSW index starts to pay: exact scan vs HNSW, latency and recall, by size.

    python -m benchmarks.postgres.bench_pgvector --vectors CACHE.sqlite [...] --sizes 20000 40000 100000 --queries 30

Real passage vectors (MiniLM, 384 dimensions) read from embedding caches (`--vectors`, the
files `accord index` keeps), deduplicated and shuffled; `--queries` of them are held out as
queries. A size beyond the distinct vectors available is reached with copies jittered by
Gaussian noise (sigma `--jitter`) and normalised again, as near-duplicate stories are: say so
with the numbers. (Random vectors are the worst case for HNSW and say nothing about news.) In a
table shaped like `accord.passages`, on a LocalPostgres started by the script (127.0.0.1). For each size: the p50/p95 of an exact top-100
inner-product search (a scan), then the same with an HNSW index (m=16, ef_construction=64, as
the store builds it; ef_search=128) and its recall@100 against the exact answer, and how long
building the index took. The store switches to HNSW at `HNSW_THRESHOLD` passages
(index/storage/postgres/vectors.py); this script is how that number is chosen.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=Path, nargs="+", required=True, help="embedding cache files (SQLite)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 40000, 100000])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--jitter", type=float, default=0.02, help="noise of the copies beyond the real vectors")
    args = parser.parse_args()

    import numpy as np
    import psycopg
    from pgvector.psycopg import register_vector

    from index.storage.postgres.local_server import LocalPostgres

    rng = np.random.default_rng(7)
    real = _real_vectors(args.vectors, rng)
    queries, pool = real[: args.queries], real[args.queries :]
    dim = pool.shape[1]
    print(f"{len(pool):,} distinct real vectors (+{args.queries} held out as queries); beyond that, jittered copies "
          f"(sigma {args.jitter})")
    print(f"command: python -m benchmarks.postgres.bench_pgvector {' '.join(sys.argv[1:])}")
    print("| vectors | exact p50 ms | exact p95 ms | HNSW build s | HNSW p50 ms | HNSW p95 ms | recall@100 |")
    print("|---|---|---|---|---|---|---|")
    with LocalPostgres.start(settings={"maintenance_work_mem": "'512MB'"}) as server:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            register_vector(conn)
            conn.execute(f"CREATE TABLE v (id bigint PRIMARY KEY, embedding vector({dim}))")
            have = 0
            for size in sorted(args.sizes):
                block = _vectors(pool, have, size, args.jitter, rng)
                with conn.cursor().copy("COPY v (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "vector"])
                    for offset, row in enumerate(block):
                        copy.write_row((have + offset, row))
                have = size
                conn.execute("VACUUM ANALYZE v")
                search = "SELECT id FROM v ORDER BY embedding <#> %s LIMIT 100"
                exact, truth = [], []
                for q in queries:
                    started = time.perf_counter()
                    truth.append({r[0] for r in conn.execute(search, (q,))})
                    exact.append(time.perf_counter() - started)
                started = time.perf_counter()
                conn.execute("CREATE INDEX v_hnsw ON v USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)")
                built = time.perf_counter() - started
                conn.execute("SET hnsw.ef_search = 128")
                approximate, recall = [], []
                for q, expected in zip(queries, truth):
                    started = time.perf_counter()
                    found = {r[0] for r in conn.execute(search, (q,))}
                    approximate.append(time.perf_counter() - started)
                    recall.append(len(found & expected) / len(expected))
                conn.execute("DROP INDEX v_hnsw")

                def ms(values: list[float], q: int) -> float:
                    return statistics.quantiles([v * 1000 for v in values], n=100)[q - 1]

                print(f"| {size:,} | {ms(exact, 50):.1f} | {ms(exact, 95):.1f} | {built:.1f} | {ms(approximate, 50):.1f} | "
                      f"{ms(approximate, 95):.1f} | {statistics.fmean(recall):.3f} |", flush=True)


def _real_vectors(caches: list[Path], rng):
    """Every distinct vector in these embedding caches, shuffled."""
    import sqlite3

    import numpy as np

    rows: dict[bytes, None] = {}
    for cache in caches:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as db:
            rows.update((blob, None) for (blob,) in db.execute("SELECT vector FROM vectors"))
    vectors = np.vstack([np.frombuffer(blob, dtype=np.float32) for blob in rows])
    return vectors[rng.permutation(len(vectors))]


def _vectors(pool, start: int, stop: int, jitter: float, rng):
    """Vectors number `start` to `stop`: the real ones, then jittered copies of them."""
    import numpy as np

    picked = pool[np.arange(start, stop) % len(pool)].copy()
    copies = np.arange(start, stop) >= len(pool)
    picked[copies] += rng.normal(0, jitter, size=(int(copies.sum()), pool.shape[1])).astype(np.float32)
    return picked / np.linalg.norm(picked, axis=1, keepdims=True)


if __name__ == "__main__":
    main()
