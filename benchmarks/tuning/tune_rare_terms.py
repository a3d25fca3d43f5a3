"""Measure the hybrid's coverage boost (RankingConfig.coverage_boost, search/fusion.py
`boost_by_coverage`): nDCG@10 of the hybrid ranking on TIME dev, CISI and Cranfield at several
boost weights, with the change against 0 (off) and the queries won and lost.

    python -m benchmarks.tuning.tune_rare_terms --data DATA

Indexes are those `accord eval` builds (one per docs file under ~/.cache/accord/eval), built
here when missing, with the packaged model. Queries are read as `accord eval` reads them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from benchmarks.common.devsets import DEV_COLLECTIONS, load_collection
from benchmarks.common.machine import command_line, machine_info, machine_line, markdown_table
from cli import _eval_index_dir  # the index `accord eval` builds and reuses
from index.embedding.encoder import MINILM_NAME
from index.pipeline.builder import build
from search.engine import Engine, RankingConfig
from search.evaluation import per_query_scores, run_queries

WEIGHTS = ("0", "0.05", "0.1", "0.2", "0.3")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding time/, cisi/ and cran/")
    parser.add_argument("--weights", nargs="+", default=list(WEIGHTS), help=(
        "boost weights to try; WEIGHT@SHARE counts only the query's words in at most SHARE of the articles"))
    args = parser.parse_args()
    print(f"command: {command_line(__file__, sys.argv[1:])}")
    print(machine_line(machine_info()))
    rows = []
    means: dict[str, list[float]] = {w: [] for w in args.weights}
    for name in DEV_COLLECTIONS:
        collection = load_collection(args.data / name)
        index_dir = _eval_index_dir(collection.docs, MINILM_NAME)
        build([collection.docs], index_dir, model=MINILM_NAME)
        per_weight: dict[str, dict[str, float]] = {}
        for weight in args.weights:
            boost, _at, share = weight.partition("@")
            ranking = replace(RankingConfig(), coverage_boost=float(boost), rare_share=float(share) if share else None)
            with Engine.open(index_dir, ranking=ranking) as engine:
                run, _failed = run_queries(engine, collection.queries, "hybrid")
            per_weight[weight] = per_query_scores(collection.qrels, run)["nDCG@10"]
        base = per_weight[args.weights[0]]
        for weight in args.weights:
            ndcg = statistics.mean(per_weight[weight].values())
            means[weight].append(ndcg)
            won = sum(1 for q in base if per_weight[weight][q] > base[q] + 1e-9)
            lost = sum(1 for q in base if per_weight[weight][q] < base[q] - 1e-9)
            rows.append([name, weight, f"{ndcg:.4f}", f"{ndcg - statistics.mean(base.values()):+.4f}",
                         f"{won}/{lost}"])
    print()
    print(markdown_table(["collection", "coverage boost", "hybrid nDCG@10", "vs off", "queries won/lost"], rows))
    print()
    print(markdown_table(["coverage boost", "mean nDCG@10 over the three"],
                         [[w, f"{statistics.mean(v):.4f}"] for w, v in means.items()]))


if __name__ == "__main__":
    main()
