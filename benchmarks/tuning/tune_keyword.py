"""Tune the keyword leg on the TIME dev queries: BM25F k1 and b, and the title boost.

    python -m benchmarks.tuning.tune_keyword DATA/time

Only the dev queries are used. The title boost is fixed when an index is built, so each boost
gets its own index (no embedding needed: the fake-free keyword side only is scored).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from index.pipeline.builder import build
from index.storage.manifest import BuildSettings
from search.engine import Engine, RankingConfig
from search.evaluation import read_qrels, read_queries, score_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the TIME folder")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "accord-tune-keyword")
    parser.add_argument("--settings", default="64,1,0", help="passage_tokens,overlap,title_in_passages of the index")
    args = parser.parse_args()
    tokens, overlap, title = (int(x) for x in args.settings.split(","))
    queries = read_queries(args.data / "queries-dev.tsv")
    qrels = read_qrels(args.data / "qrels-dev.trec")
    queries = {q: t for q, t in queries.items() if q in qrels}
    print(f"command: {' '.join(sys.argv)}")
    print("| title boost | k1 | b | nDCG@10 | MRR@10 | R@100 |\n|---:|---:|---:|---:|---:|---:|")
    for boost in (1.0, 2.0, 3.0):
        settings = BuildSettings(passage_tokens=tokens, overlap_sentences=overlap, title_in_passages=bool(title), title_boost=boost)
        index_dir = args.work / f"b{boost}"
        build([args.data / "docs.jsonl"], index_dir, settings=settings, rebuild=True,
              embedding_cache=Path(tempfile.gettempdir()) / "accord-tune/embeddings.sqlite")
        for k1, b in itertools.product((0.9, 1.2, 1.6, 2.0), (0.4, 0.6, 0.75, 0.9)):
            ranking = replace(RankingConfig(), bm25_k1=k1, bm25_b=b)
            with Engine.open(index_dir, ranking=ranking) as engine:
                run = {q: engine.keyword_run(t, 100) for q, t in queries.items()}
            m = score_run(qrels, run)
            print(f"| {boost} | {k1} | {b} | {m['nDCG@10']:.4f} | {m['MRR@10']:.4f} | {m['R@100']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
