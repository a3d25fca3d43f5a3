"""Choose the relevance cut-off of the views (timeline, pairs, alerts): precision and recall of
the counted set on judged queries, for several rules and thresholds.

    python -m benchmarks.tuning.tune_matches --docs DATA/time/docs.jsonl \
        --queries DATA/time/queries-dev.tsv --qrels DATA/time/qrels-dev.trec \
        --index WORK/accord-views/index-time --cache WORK/accord-views/embeddings.sqlite

The index is built (or brought up to date) with the packaged model. For every query the hybrid
ranker's whole candidate list is fetched once; each rule then picks a set from it, and the set
is compared with the judged relevant articles: micro precision and recall (pooled over queries),
their F1, the mean per-query precision over queries with a non-empty set, the mean set size and
how many queries get an empty set. Only judged queries count.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.common.machine import (
    add_model_option,
    command_line,
    machine_info,
    machine_line,
    markdown_table,
    resolve_model,
)
from index.pipeline.builder import build
from search.engine import Candidate, Engine
from search.evaluation import read_qrels, read_queries
from search.views.matches import CutOff

Rule = Callable[[list[Candidate]], set[str]]
COSINES = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65)


def rules(cosines=COSINES) -> dict[str, Rule]:
    """The candidate rules, by the name the table shows."""
    found: dict[str, Rule] = {
        # The rule the issue warns against: any article sharing a query word.
        "keyword leg (any query term)": lambda cs: {c.id for c in cs if c.keyword is not None},
    }
    for fraction in (0.5, 0.7, 0.9):
        # Relative to the query's best hit: always admits something, however poor.
        found[f"fused score >= {fraction} x best"] = (
            lambda cs, f=fraction: {c.id for c in cs if cs and c.score >= f * cs[0].score}
        )
    for cosine in cosines:
        cutoff = CutOff(min_cosine=cosine)
        found[f"cosine >= {cosine:.2f}"] = lambda cs, cut=cutoff: {c.id for c in cs if cut.admits(c)}
    for cosine in (0.45, 0.50, 0.55):
        cutoff = CutOff(min_cosine=cosine, require_keyword=True)
        found[f"cosine >= {cosine:.2f} and keyword"] = lambda cs, cut=cutoff: {c.id for c in cs if cut.admits(c)}
    return found


def measure(candidates: dict[str, list[Candidate]], qrels: dict[str, dict[str, int]], rule: Rule) -> list[str]:
    """One table row: micro P, R, F1, mean per-query P, mean set size, empty sets."""
    found = hit = relevant = empty = 0
    per_query = []
    for qid, cands in candidates.items():
        chosen = rule(cands)
        judged = {doc for doc, grade in qrels[qid].items() if grade > 0}
        correct = len(chosen & judged)
        found, hit, relevant = found + len(chosen), hit + correct, relevant + len(judged)
        if chosen:
            per_query.append(correct / len(chosen))
        else:
            empty += 1
    precision = hit / found if found else 0.0
    recall = hit / relevant if relevant else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    mean_p = sum(per_query) / len(per_query) if per_query else 0.0
    return [f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}", f"{mean_p:.3f}", f"{found / len(candidates):.1f}", str(empty)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True, help="index to build or reuse")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache to share between runs")
    parser.add_argument("--cosines", type=float, nargs="+", default=list(COSINES),
                        help="cut-off cosines to try (another model's cosines lie elsewhere)")
    add_model_option(parser)
    args = parser.parse_args()
    qrels = read_qrels(args.qrels)
    queries = {q: t for q, t in read_queries(args.queries).items() if q in qrels}
    build([args.docs], args.index, model=resolve_model(args.model), embedding_cache=args.cache)
    with Engine.open(args.index) as engine:
        total = engine.stats().articles
        # The whole list from each leg: every rule then sees every article either leg scores.
        candidates = {q: engine.candidates(t, "hybrid", limit=total) for q, t in queries.items()}
    print(f"command: {command_line(__file__, sys.argv[1:])}")
    print(machine_line(machine_info()))
    print(f"{total} articles, {len(queries)} judged queries, "
          f"{sum(len([g for g in j.values() if g > 0]) for q, j in qrels.items() if q in queries)} relevant pairs\n")
    rows = [[name, *measure(candidates, qrels, rule)] for name, rule in rules(args.cosines).items()]
    print(markdown_table(["rule", "precision", "recall", "F1", "mean P/query", "set size", "empty sets"], rows))


if __name__ == "__main__":
    main()
