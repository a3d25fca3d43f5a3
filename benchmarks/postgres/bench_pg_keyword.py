"""The keyword leg in PostgreSQL (PgKeywordStore) against the whoosh store, in one run.

    python -m benchmarks.postgres.bench_pg_keyword --time DATA/time \\
        --scale WORK/scale/reuters-2k-x10.jsonl \\
        --reuters DATA/reuters21578/reuters21578.jsonl.gz --queries 200

1. Quality: TIME dev (`--time`, read by benchmarks/common/devsets.py) indexed by both writers; each
   judged query parsed as the engine parses it and run through each store (100 hits), nDCG@10
   and R@100 of both, and how many queries got the same ids in the same order from both.
2. Latency: the `--scale` articles (20,000: 2,000 Reuters bodies x 10) indexed by both writers in
   one commit each; `--queries` queries made as bench_query.py makes them from `--reuters` (titles,
   topic-place pairs, questions, phrases, field queries; fixed seed), each parsed once, then run
   through the two stores alternately (100 hits, after `--warmup` untimed queries), so the two
   see the same machine load; p50/p95 of each and their ratio. The whoosh store uses its array
   scorer (on above 5,000 articles); PostgreSQL runs on 127.0.0.1 (LocalPostgres), after VACUUM
   ANALYZE. Keyword-only: no embeddings.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.corpora import make_queries
from benchmarks.common.devsets import keyword_run, load_collection, read_collection_articles
from index.storage.keyword import KeywordWriter, WhooshKeywordStore
from index.storage.postgres.connection import connect
from index.storage.postgres.keyword import PgKeywordStore, PgKeywordWriter
from index.storage.postgres.local_server import LocalPostgres
from index.storage.postgres.schema import migrate
from search.engine import RankingConfig
from search.evaluation import DEPTH, score_run
from search.query import parse_query

TITLE_BOOST = 2.0  # the manifest's default


def index_both(articles: list, directory: Path, url: str) -> tuple[float, float]:
    """Index `articles` with each writer, one commit each; the seconds each took."""
    start = time.perf_counter()
    writer = KeywordWriter(directory, TITLE_BOOST)
    for article in articles:
        writer.add(article)
    writer.commit()
    whoosh_s = time.perf_counter() - start
    start = time.perf_counter()
    with connect(url) as conn:
        migrate(conn)
        with conn.transaction():
            pg_writer = PgKeywordWriter(conn, TITLE_BOOST)
            for article in articles:
                pg_writer.add(article)
            pg_writer.commit()
    pg_s = time.perf_counter() - start
    with connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # index-only scans need the visibility map
    return whoosh_s, pg_s


def same(a: list[tuple[str, float]], b: list[tuple[str, float]]) -> bool:
    """Same ids in the same order, scores within 1e-4."""
    return [i for i, _ in a] == [i for i, _ in b] and all(abs(x - y) <= 1e-4 for (_, x), (_, y) in zip(a, b))


def quality(server: LocalPostgres, folder: Path, k1: float, b: float, tmp: Path) -> None:
    coll = load_collection(folder)
    articles = read_collection_articles(coll.docs)
    server.sql("CREATE DATABASE quality OWNER accord")
    url = server.url(database="quality")
    index_both(articles, tmp / "time", url)
    whoosh = WhooshKeywordStore(tmp / "time", k1, b)
    with connect(url, autocommit=True) as conn:
        pg = PgKeywordStore(conn, k1, b)
        runs = {"whoosh": {}, "postgres": {}}  # type: dict[str, dict[str, list[tuple[str, float]]]]
        for qid, text in coll.queries.items():
            runs["whoosh"][qid] = keyword_run(whoosh, text, DEPTH)
            runs["postgres"][qid] = keyword_run(pg, text, DEPTH)
    whoosh.close()
    agree = sum(same(runs["whoosh"][q], runs["postgres"][q]) for q in coll.queries)
    print(f"\n{coll.name} dev: {len(articles)} articles, {len(coll.queries)} judged queries, k1={k1} b={b}, "
          f"title boost {TITLE_BOOST}; same top-{DEPTH} (ids, order, scores within 1e-4): {agree}/{len(coll.queries)}")
    print("| store | nDCG@10 | R@100 |\n|---|---:|---:|")
    for name, run in runs.items():
        m = score_run(coll.qrels, run)
        print(f"| {name} | {m['nDCG@10']:.4f} | {m['R@100']:.4f} |", flush=True)


def latency(server: LocalPostgres, jsonl: Path, reuters: Path, n: int, warmup: int, k1: float, b: float,
            tmp: Path) -> None:
    from index.text.articles import Article, read_articles

    articles = [a for a in read_articles(jsonl, jsonl.read_bytes()) if isinstance(a, Article)]
    server.sql("CREATE DATABASE scale OWNER accord")
    url = server.url(database="scale")
    whoosh_build, pg_build = index_both(articles, tmp / "scale", url)
    queries = [parse_query(text).keyword for _kind, text in make_queries(reuters, n + warmup, seed=21578)]
    whoosh = WhooshKeywordStore(tmp / "scale", k1, b)
    times: dict[str, list[float]] = {"whoosh": [], "postgres": []}
    agree = 0
    with connect(url, autocommit=True) as conn:
        pg = PgKeywordStore(conn, k1, b)
        stores = {"whoosh": whoosh, "postgres": pg}
        for i, query in enumerate(queries):
            hits = {}
            for name in (("whoosh", "postgres") if i % 2 else ("postgres", "whoosh")):  # alternate who goes first
                start = time.perf_counter()
                hits[name] = stores[name].search(query, DEPTH)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
            agree += i >= warmup and same(hits["whoosh"], hits["postgres"])
    print(f"\n{jsonl.name}: {len(articles)} articles; build (one commit) whoosh {whoosh_build:.1f} s, "
          f"postgres {pg_build:.1f} s; whoosh fast path: {whoosh.fast_path}; postgres: {pg.fast_path}")
    whoosh.close()
    print(f"{n} queries x {DEPTH} hits after {warmup} warm-up; same results from both: {agree}/{n}")
    print("| store | p50 ms | p95 ms | mean ms |\n|---|---:|---:|---:|")
    for name, values in times.items():
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        print(f"| {name} | {1000 * statistics.median(values):.1f} | {1000 * p95:.1f} | {1000 * statistics.mean(values):.1f} |")
    print(f"p50 ratio postgres / whoosh: {statistics.median(times['postgres']) / statistics.median(times['whoosh']):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=Path, help="the TIME folder (docs.jsonl, queries-dev.tsv, qrels-dev.trec)")
    parser.add_argument("--scale", type=Path, help="a JSONL of articles for the latency run")
    parser.add_argument("--reuters", type=Path, help="reuters21578.jsonl.gz, to make the latency queries from")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()
    if args.scale and not args.reuters:
        parser.error("--scale needs --reuters (the queries are made from it)")
    print(f"command: python -m benchmarks.postgres.bench_pg_keyword {' '.join(sys.argv[1:])}")
    settings = RankingConfig()
    with tempfile.TemporaryDirectory(prefix="bench-pgkw-") as folder, LocalPostgres.start() as server:
        tmp = Path(folder)
        if args.time:
            quality(server, args.time, settings.bm25_k1, settings.bm25_b, tmp)
        if args.scale:
            latency(server, args.scale, args.reuters, args.queries, args.warmup, settings.bm25_k1, settings.bm25_b, tmp)


if __name__ == "__main__":
    main()
