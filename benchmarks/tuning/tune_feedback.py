"""Pseudo-relevance feedback on the keyword leg, measured on the dev collections: keyword-leg and
hybrid nDCG@10 for a small grid of (feedback docs, terms, weight), with the mean and the worst
case over the collections.

    python -m benchmarks.tuning.tune_feedback WORK/ranking2/legs-regex.pkl \
        time=WORK/ranking2/time-p64-o1 cisi=WORK/ranking2/cisi-p254-o1 \
        cran=WORK/ranking2/cran-p254-o1 --data DATA

The indexes and the legs file are those `tune_dev.py` writes (the legs give each query's saved
semantic passage scores and judgments). Each query's first keyword run and its expansion terms
are computed once and shared by the grid's settings, with the functions the engine's keyword leg
calls (`search.feedback`); one setting is also run through the Engine with
`RankingConfig(feedback=...)` (the keyword leg of its hybrid candidates, where feedback applies)
and must give the same runs. The hybrid is the default convex
fusion of the keyword leg with the saved semantic leg (best passage per article).
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import statistics
import sys
import time
from pathlib import Path

from benchmarks.common.devsets import load_collection
from benchmarks.common.ranking import pooled
from index.embedding.encoder import embed_queries
from index.storage.keyword_arrays import FAST_PATH_ON
from search.engine import Engine, RankingConfig
from search.evaluation import score_run
from search.feedback import (
    Feedback,
    VectorFeedback,
    as_query,
    feedback_text,
    interpolate,
    plain_terms,
    vector_feedback_run,
)
from search.fusion import convex_fusion
from search.passages import best_passages
from search.query import parse_query

FETCH = 1000
DEPTH = 100


def label(feedback: Feedback | None) -> str:
    return "off" if feedback is None else f"docs {feedback.docs}, terms {feedback.terms}, weight {feedback.weight}"


def ndcg(qrels: dict, runs: dict) -> float:
    return score_run(qrels, {q: r[:DEPTH] for q, r in runs.items()})["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("legs", type=Path, help="legs pickle written by tune_dev.py (semantic passages)")
    parser.add_argument("indexes", nargs="+", help="name=index_dir, one per collection")
    parser.add_argument("--data", type=Path, required=True, help="folder holding the collections (time, cisi, cran)")
    parser.add_argument("--docs", type=int, nargs="+", default=[5, 10])
    parser.add_argument("--terms", type=int, nargs="+", default=[10, 30])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.2, 0.3, 0.5])
    parser.add_argument("--vector", action="store_true",
                        help="the semantic leg's vector feedback instead (grid: --docs by --vector-weights)")
    parser.add_argument("--vector-weights", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--latency", metavar="DOCS,TERMS,WEIGHT",
                        help="instead: p50 of engine.search(k=10) per mode with this feedback and without, interleaved")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.tune_feedback {' '.join(sys.argv[1:])}", flush=True)
    if args.latency:
        docs, terms, weight = args.latency.split(",")
        latency(args, Feedback(int(docs), int(terms), float(weight)))
        return
    legs = pickle.loads(args.legs.read_bytes())
    if args.vector:
        vector_grid(args, legs)
        return
    base = RankingConfig()
    grid = [None, *(Feedback(d, t, w) for d, t, w in itertools.product(args.docs, args.terms, args.weights))]
    keyword_rows: dict[str, list[float]] = {}
    hybrid_rows: dict[str, list[float]] = {}
    names = []
    for pair in args.indexes:
        name, index_dir = pair.split("=", 1)
        names.append(name)
        coll = load_collection(args.data / name)
        queries = coll.queries  # as typed, as `accord eval` passes them
        semantic = {q: pooled(p, "max") for q, p in legs[name]["passages"].items()}
        runs: dict[str, dict[str, list]] = {label(f): {} for f in grid}
        started = time.perf_counter()
        with Engine.open(index_dir) as engine, engine.view() as generation:  # the stores the leg reads
            # whoosh's array scorer, which an index this small does not use by default: the same
            # hits and scores (checked below against an Engine as opened), many times faster.
            generation.keyword.fast_path = FAST_PATH_ON
            for q, text in queries.items():
                query = parse_query(text, settings=generation.manifest.settings).keyword
                first = engine.keyword_run(text, FETCH)
                runs["off"][q] = first
                original = plain_terms(query)
                for docs in args.docs:
                    if original is None or not first:
                        terms = []
                    else:
                        top = [d for d, _s in first[:docs]]
                        articles = generation.docs.articles(top)
                        texts = [feedback_text(articles[d]) for d in top if d in articles]
                        terms = generation.keyword.expansion_terms(texts, max(args.terms))
                    for count in args.terms:
                        for weight in args.weights:
                            key = label(Feedback(docs, count, weight))
                            if not terms:
                                runs[key][q] = first
                                continue
                            expanded = as_query(interpolate(original or {}, terms[:count], weight))
                            found = generation.keyword.search(expanded, FETCH, None)
                            runs[key][q] = sorted(found, key=lambda hit: (-hit[1], hit[0]))
        check = grid[-1]
        with Engine.open(index_dir, ranking=RankingConfig(feedback=check)) as engine:
            for q in list(queries)[:10]:  # the hybrid's keyword leg, as the engine ran it
                found = [c for c in engine.candidates(queries[q], "hybrid", limit=FETCH) if c.keyword]
                leg = [(c.id, c.keyword.score) for c in sorted(found, key=lambda c: c.keyword.rank)]
                assert leg == runs[label(check)][q], (name, q)
        print(f"{name}: {len(grid)} settings, {time.perf_counter() - started:.0f}s", flush=True)
        for feedback in grid:
            keyword = runs[label(feedback)]
            hybrid = {q: convex_fusion(keyword.get(q, []), semantic[q], base.weight, base.scale) for q in semantic}
            keyword_rows.setdefault(label(feedback), []).append(ndcg(coll.qrels, keyword))
            hybrid_rows.setdefault(label(feedback), []).append(ndcg(coll.qrels, hybrid))
            print(f"  {name} | {label(feedback)} | keyword {keyword_rows[label(feedback)][-1]:.4f} | "
                  f"hybrid {hybrid_rows[label(feedback)][-1]:.4f}", flush=True)
    print_table("feedback", "keyword", names, keyword_rows, hybrid_rows)


def print_table(what: str, leg: str, names: list[str], leg_rows: dict[str, list[float]],
                hybrid_rows: dict[str, list[float]]) -> None:
    """One row per setting, best hybrid mean first: the leg's and the hybrid's nDCG@10 per
    collection, with their mean and worst."""
    header = " | ".join(names)
    print(f"\n| {what} | {leg}: {header} | mean | worst | hybrid: {header} | mean | worst |")
    print("|---|" + "---:|" * (2 * len(names) + 4))
    for row in sorted(hybrid_rows, key=lambda key: -statistics.fmean(hybrid_rows[key])):
        k, h = leg_rows[row], hybrid_rows[row]
        cells = [*(f"{v:.4f}" for v in k), f"{statistics.fmean(k):.4f}", f"{min(k):.4f}",
                 *(f"{v:.4f}" for v in h), f"{statistics.fmean(h):.4f}", f"{min(h):.4f}"]
        print(f"| {row} | " + " | ".join(cells) + " |")


def vector_grid(args: argparse.Namespace, legs: dict) -> None:
    """Semantic-leg and hybrid nDCG@10 with vector feedback (the saved keyword leg, unchanged)."""
    grid = [None, *(VectorFeedback(d, w) for d, w in itertools.product(args.docs, args.vector_weights))]
    semantic_rows: dict[str, list[float]] = {}
    hybrid_rows: dict[str, list[float]] = {}
    names = []
    for pair in args.indexes:
        name, index_dir = pair.split("=", 1)
        names.append(name)
        coll = load_collection(args.data / name)
        queries = coll.queries
        keyword = legs[name]["keyword"][(2.0, 0.75)]
        runs: dict[str, dict[str, list]] = {vector_label(f): {} for f in grid}
        started = time.perf_counter()
        with Engine.open(index_dir) as engine, engine.view() as generation:
            for q, text in queries.items():
                parsed = parse_query(text, settings=generation.manifest.settings)
                vector = embed_queries(engine.encoder, [parsed.embed_text or parsed.text])[0]
                first = best_passages(generation, vector, FETCH)
                runs["off"][q] = first[0]
                for feedback in grid[1:]:
                    found = vector_feedback_run(lambda moved: best_passages(generation, moved, FETCH),
                                                generation.vectors.vectors, vector, first, feedback)
                    runs[vector_label(feedback)][q] = found[0]
        check = grid[-1]
        with Engine.open(index_dir, ranking=RankingConfig(vector_feedback=check)) as engine:
            for q in list(queries)[:5]:
                assert engine.semantic_run(queries[q], FETCH)[0] == runs[vector_label(check)][q], (name, q)
        print(f"{name}: {len(grid)} settings, {time.perf_counter() - started:.0f}s", flush=True)
        for feedback in grid:
            semantic = runs[vector_label(feedback)]
            hybrid = {q: convex_fusion(keyword.get(q, []), semantic[q], RankingConfig().weight, RankingConfig().scale) for q in semantic}
            semantic_rows.setdefault(vector_label(feedback), []).append(ndcg(coll.qrels, semantic))
            hybrid_rows.setdefault(vector_label(feedback), []).append(ndcg(coll.qrels, hybrid))
    print_table("vector feedback", "semantic", names, semantic_rows, hybrid_rows)


def latency(args: argparse.Namespace, feedback: Feedback) -> None:
    """Warm search latency with and without `feedback`, each query run by both engines in turn."""
    print("\n| collection | mode | p50 off (ms) | p50 feedback (ms) | ratio |\n|---|---|---:|---:|---:|")
    for pair in args.indexes:
        name, index_dir = pair.split("=", 1)
        queries = list(load_collection(args.data / name).queries.values())
        with Engine.open(index_dir) as off, Engine.open(index_dir, ranking=RankingConfig(feedback=feedback)) as on:
            for mode in ("keyword", "hybrid"):
                times: dict[str, list[float]] = {"off": [], "on": []}
                for engine in (off, on):  # warm-up: the model, the searchers
                    for text in queries[:5]:
                        engine.search(text, k=10, mode=mode)
                for text in queries:
                    for key, engine in (("off", off), ("on", on)):
                        started = time.perf_counter()
                        engine.search(text, k=10, mode=mode)
                        times[key].append(time.perf_counter() - started)
                a, b = statistics.median(times["off"]), statistics.median(times["on"])
                print(f"| {name} | {mode} | {1000 * a:.1f} | {1000 * b:.1f} | {b / a:.2f} |", flush=True)


def vector_label(feedback: VectorFeedback | None) -> str:
    return "off" if feedback is None else f"docs {feedback.docs}, weight {feedback.weight}"


if __name__ == "__main__":
    main()
