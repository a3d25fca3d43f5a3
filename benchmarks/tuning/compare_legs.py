"""Compare the legs saved by `tune_dev.py` from two builds (say, two sentence splitters) at the
ranking defaults: keyword, semantic (best passage) and hybrid nDCG@10 per collection, with the
mean and the worst case.

    python -m benchmarks.tuning.compare_legs before=WORK/ranking2/legs-regex.pkl \
        after=WORK/ranking2/legs-syntok.pkl
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
from pathlib import Path

from benchmarks.common.ranking import DEPTH, pooled
from search.engine import RankingConfig
from search.evaluation import score_run
from search.fusion import convex_fusion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("legs", nargs="+", help="label=legs.pkl")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.compare_legs {' '.join(sys.argv[1:])}")
    config = RankingConfig()
    k1b = (config.bm25_k1, config.bm25_b)
    rows: dict[tuple[str, str], dict[str, float]] = {}
    names: list[str] = []
    for pair in args.legs:
        label, path = pair.split("=", 1)
        for name, legs in pickle.loads(Path(path).read_bytes()).items():
            if "passages" not in legs or k1b not in legs.get("keyword", {}):
                continue
            names += [name] if name not in names else []
            keyword = legs["keyword"][k1b]
            semantic = {q: pooled(p, "max") for q, p in legs["passages"].items()}
            hybrid = {q: convex_fusion(keyword.get(q, []), semantic[q], config.weight, config.scale) for q in semantic}
            for leg, runs in (("keyword", keyword), ("semantic", semantic), ("hybrid", hybrid)):
                score = score_run(legs["qrels"], {q: r[:DEPTH] for q, r in runs.items()})["nDCG@10"]
                rows.setdefault((leg, label), {})[name] = score
    print("\n| leg | build | " + " | ".join(names) + " | mean | worst |\n|---|---|" + "---:|" * (len(names) + 2))
    for (leg, label), scores in rows.items():
        values = [scores.get(n, float("nan")) for n in names]
        print(f"| {leg} | {label} | " + " | ".join(f"{v:.4f}" for v in values)
              + f" | {statistics.fmean(values):.4f} | {min(values):.4f} |")


if __name__ == "__main__":
    main()
