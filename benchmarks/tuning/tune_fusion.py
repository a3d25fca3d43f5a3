"""Score query-time ranking variants on the legs saved by `tune_dev.py`, per collection, with the
mean and the worst case over the collections.

    python -m benchmarks.tuning.tune_fusion WORK/ranking/legs.pkl [more.pkl ...]

Several files are merged collection by collection, a later file's fields (say, keyword legs
redone with `tune_dev.py --keyword-only`) replacing an earlier one's.

Variants: BM25F k1/b (keyword leg alone); how an article's semantic score is pooled from its
passages (best passage, mean of the best two); fusion (convex with min-max or z-score
normalisation at keyword weights 0.1-0.7, RRF at k 10/30/60). Each is scored with nDCG@10 from
ir-measures through `search.evaluation.score_run`, on the top 100.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
from pathlib import Path

from benchmarks.common.ranking import DEPTH, pooled
from search.evaluation import score_run
from search.fusion import convex_fusion, reciprocal_rank_fusion


def z_score(run):
    values = [s for _d, s in run]
    if len(values) < 2:
        return {d: 1.0 for d, _s in run}
    mean, std = statistics.fmean(values), statistics.pstdev(values) or 1.0
    return {d: (s - mean) / std for d, s in run}


def z_fusion(keyword, semantic, weight):
    """Convex fusion over z-scores; a document missing from a run gets that run's lowest z."""
    kz, sz = z_score(keyword), z_score(semantic)
    k_floor, s_floor = min(kz.values(), default=0.0), min(sz.values(), default=0.0)
    scores = {d: weight * kz.get(d, k_floor) + (1 - weight) * sz.get(d, s_floor) for d in {*kz, *sz}}
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def confidence(run, depth: int = 20) -> float:
    """How far a leg's top score stands above its next candidates, in their standard deviations."""
    values = [s for _d, s in run[:depth]]
    if len(values) < 3:
        return 0.0
    rest = values[1:]
    return (values[0] - statistics.fmean(rest)) / (statistics.pstdev(rest) or 1.0)


def adaptive_fusion(keyword, semantic, prior: float):
    """Convex min-max fusion whose keyword weight moves from `prior` towards the leg that is more
    sure of its top result on this query (weights from the legs' own score distributions)."""
    ck, cs = confidence(keyword), confidence(semantic)
    share = ck / (ck + cs) if ck + cs > 0 else 0.5
    return convex_fusion(keyword, semantic, min(max(0.5 * prior + 0.5 * share, 0.0), 1.0), "min-max")


def variants(legs: dict, k1b: tuple[float, float]):
    keyword_runs = legs["keyword"][k1b]
    for pool in ("max", "top2", "max+0.1second"):
        semantic_runs = {q: pooled(p, pool) for q, p in legs["passages"].items()}
        if pool == "max":
            yield ("keyword", "-"), keyword_runs
        yield ("semantic", pool), semantic_runs
        for w in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            yield (f"convex min-max w={w}", pool), {q: convex_fusion(keyword_runs.get(q, []), semantic_runs[q], w, "min-max")
                                                    for q in semantic_runs}
            yield (f"convex max w={w}", pool), {q: convex_fusion(keyword_runs.get(q, []), semantic_runs[q], w, "max") for q in semantic_runs}
            yield (f"convex z-score w={w}", pool), {q: z_fusion(keyword_runs.get(q, []), semantic_runs[q], w) for q in semantic_runs}
            yield (f"convex adaptive prior={w}", pool), {q: adaptive_fusion(keyword_runs.get(q, []), semantic_runs[q], w) for q in semantic_runs}
        for k in (10, 30, 60):
            yield (f"rrf k={k}", pool), {q: reciprocal_rank_fusion([keyword_runs.get(q, []), semantic_runs[q]], k) for q in semantic_runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("legs", type=Path, nargs="+")
    parser.add_argument("--k1b", default="auto", help="k1,b of the keyword leg for the fusion grid (auto: best mean)")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.tune_fusion {' '.join(sys.argv[1:])}")
    data: dict = {}
    for path in args.legs:
        for name, fields in pickle.loads(path.read_bytes()).items():
            data.setdefault(name, {}).update(fields)
    data = {name: fields for name, fields in data.items() if "passages" in fields and "keyword" in fields}
    names = list(data)
    # BM25F k1/b, keyword leg alone.
    settings = [key for key in next(iter(data.values()))["keyword"] if all(key in data[n]["keyword"] for n in names)]
    table = {}
    for k1b in settings:
        table[k1b] = [score_run(data[n]["qrels"], {q: r[:DEPTH] for q, r in data[n]["keyword"][k1b].items()})["nDCG@10"] for n in names]
    print("\n| k1 | b | " + " | ".join(names) + " | mean | worst |\n|---:|---:|" + "---:|" * (len(names) + 2))
    for (k1, b), row in table.items():
        print(f"| {k1} | {b} | " + " | ".join(f"{v:.4f}" for v in row) + f" | {statistics.fmean(row):.4f} | {min(row):.4f} |")
    if args.k1b == "auto":
        k1b = max(table, key=lambda key: statistics.fmean(table[key]))
    else:
        k1b = tuple(float(x) for x in args.k1b.split(","))
    print(f"\nfusion grid at k1, b = {k1b}\n")
    results: dict[tuple[str, str], list[float]] = {}
    for n in names:
        for key, run in variants(data[n], k1b):
            results.setdefault(key, []).append(score_run(data[n]["qrels"], {q: r[:DEPTH] for q, r in run.items()})["nDCG@10"])
    print("| ranking | pooling | " + " | ".join(names) + " | mean | worst |\n|---|---|" + "---:|" * (len(names) + 2))
    for (name, pool), row in sorted(results.items(), key=lambda item: -statistics.fmean(item[1])):
        print(f"| {name} | {pool} | " + " | ".join(f"{v:.4f}" for v in row) + f" | {statistics.fmean(row):.4f} | {min(row):.4f} |")


if __name__ == "__main__":
    main()
