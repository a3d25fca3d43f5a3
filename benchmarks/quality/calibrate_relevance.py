"""Calibrate the weak-match label (search/relevance.py): how well "weak" picks out non-relevant
hits and queries with nothing relevant, per dev collection, at several thresholds.

    python -m benchmarks.quality.calibrate_relevance --data DATA

For TIME dev, CISI and Cranfield (their judged queries), each query's first 10 hybrid hits are
taken as `accord search` returns them, with each hit's best-passage cosine and idf-weighted word
coverage. Three tables per collection:

- hits: a hit is "weak" when its cosine is under T; precision = the share of weak hits that are
  not judged relevant (judged non-relevant or unjudged), recall = the share of the non-relevant
  hits that are weak, and how many relevant hits the label wrongly marks;
- results (hybrid): a result is labelled weak when its closest article's cosine
  (`strength.cosine`) is under T, alone or with no hit among its first 10 carrying a share C of
  the query's idf weight (`strength.coverage`). The positives are the queries with no relevant hit in their first 10, among them
  the other two collections' queries run against this one (Cranfield's aerodynamics questions
  against TIME's news: nothing there can match), so the label is tried on queries it is made for;
- results (coverage): the same for keyword mode, whose label tests the best hit's coverage.

Indexes are those `accord eval` builds (one per docs file under ~/.cache/accord/eval), built
here when missing, with the packaged model.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common.devsets import DEV_COLLECTIONS, Collection, load_collection
from benchmarks.common.machine import command_line, machine_info, machine_line, markdown_table
from cli import _eval_index_dir  # the index `accord eval` builds and reuses
from index.embedding.encoder import MINILM_NAME
from index.pipeline.builder import build
from search.engine import Engine

COSINES = (0.25, 0.30, 0.35, 0.40, 0.45, 0.50)
COVERAGES = (0.3, 0.4, 0.5, 0.6, 0.7)
FOREIGN_PER_COLLECTION = 40  # queries taken from each other collection (a fixed random sample)


@dataclass(frozen=True)
class Ranked:
    """One query's first 10 hits: (cosine, coverage, relevant) each, and the result's best cosine
    and the keyword mode's best-hit coverage."""

    own: bool
    hits: tuple[tuple[float, float, bool], ...]
    best_cosine: float
    coverage: float | None  # the best coverage among the hybrid's first 10
    keyword_coverage: float | None
    keyword_found: bool  # a relevant article among keyword mode's first 10


def run(engine: Engine, text: str, relevant: set[str], own: bool) -> Ranked:
    result = engine.search(text, k=10)  # as typed: the engine reads any question itself
    keyword = engine.search(text, k=10, mode="keyword")
    hits = tuple((h.relevance.cosine or 0.0, h.relevance.coverage or 0.0, h.id in relevant) for h in result
                 if h.relevance is not None)
    assert result.strength is not None and keyword.strength is not None
    best = result.strength.cosine if result.strength.cosine is not None else 0.0
    return Ranked(own, hits, best, result.strength.coverage, keyword.strength.coverage,
                  any(h.id in relevant for h in keyword))


def hit_rows(ranked: list[Ranked]) -> list[list[str]]:
    hits = [h for r in ranked if r.own for h in r.hits]
    rows = []
    for cut in COSINES:
        weak = [h for h in hits if h[0] < cut]
        wrong = sum(1 for h in weak if h[2])
        non_relevant = sum(1 for h in hits if not h[2])
        precision = (len(weak) - wrong) / len(weak) if weak else 0.0
        recall = (len(weak) - wrong) / non_relevant if non_relevant else 0.0
        relevant = sum(1 for h in hits if h[2])
        rows.append([f"cosine < {cut:.2f}", str(len(weak)), f"{precision:.3f}", f"{recall:.3f}",
                     f"{wrong} of {relevant}"])
    return rows


def weak_by_coverage(share: float) -> Callable[[Ranked], bool]:
    """Keyword mode's rule: no hit of the first 10 holds `share` of the query's weight."""
    return lambda r: r.keyword_coverage is not None and r.keyword_coverage < share


def weak_by_cosine(cut: float, share: float | None) -> Callable[[Ranked], bool]:
    """The hybrid's rule: the closest cosine under `cut` (and, with a share, no hit of the first
    10 holding that share of the query's weight)."""
    return lambda r: r.best_cosine < cut and (share is None or r.coverage is None or r.coverage < share)


def rules(measure: str) -> dict[str, Callable[[Ranked], bool]]:
    """The labelling rules tried, by name: when is a result weak?"""
    if measure == "coverage":
        return {f"coverage < {c:.2f}": weak_by_coverage(c) for c in COVERAGES}
    found = {f"cosine < {t:.2f}": weak_by_cosine(t, None) for t in COSINES}
    for share in (0.5, 0.7):
        found.update({f"cosine < {t:.2f} and coverage < {share:.1f}": weak_by_cosine(t, share) for t in COSINES})
    return found


def result_rows(ranked: list[Ranked], measure: str) -> list[list[str]]:
    def nothing(r: Ranked) -> bool:  # the positives: no relevant hit in the mode's first 10
        return not r.keyword_found if measure == "coverage" else not any(h[2] for h in r.hits)

    rows = []
    for name, weak in rules(measure).items():
        labelled = [r for r in ranked if weak(r)]
        right = sum(1 for r in labelled if nothing(r))
        positives = sum(1 for r in ranked if nothing(r))
        own_found = [r for r in ranked if r.own and not nothing(r)]
        precision = right / len(labelled) if labelled else 0.0
        recall = right / positives if positives else 0.0
        foreign = [r for r in ranked if not r.own]
        rows.append([name, str(len(labelled)), f"{precision:.3f}", f"{recall:.3f}",
                     f"{sum(1 for r in foreign if weak(r))} of {len(foreign)}",
                     f"{sum(1 for r in own_found if weak(r))} of {len(own_found)}"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder holding time/, cisi/ and cran/")
    parser.add_argument("--collections", nargs="+", default=list(DEV_COLLECTIONS), choices=DEV_COLLECTIONS)
    args = parser.parse_args()
    collections: dict[str, Collection] = {name: load_collection(args.data / name) for name in DEV_COLLECTIONS}
    print(f"command: {command_line(__file__, sys.argv[1:])}")
    print(machine_line(machine_info()))
    sample = random.Random(20261206)
    foreign_queries = {name: sample.sample(sorted(c.queries.items()), min(FOREIGN_PER_COLLECTION, len(c.queries)))
                       for name, c in collections.items()}
    for name in args.collections:
        collection = collections[name]
        index_dir = _eval_index_dir(collection.docs, MINILM_NAME)
        build([collection.docs], index_dir, model=MINILM_NAME)
        with Engine.open(index_dir) as engine:
            ranked = [run(engine, text, {d for d, g in collection.qrels[qid].items() if g > 0}, True)
                      for qid, text in collection.queries.items()]
            ranked += [run(engine, text, set(), False)
                       for other, queries in foreign_queries.items() if other != name for _qid, text in queries]
        own = sum(1 for r in ranked if r.own)
        print(f"\n## {name}: {own} judged queries, {len(ranked) - own} queries of the other collections\n")
        print("Hits (first 10 of each judged query): is a weak hit a non-relevant one?\n")
        print(markdown_table(["weak when", "weak hits", "precision", "recall", "relevant hits marked weak"],
                             hit_rows(ranked)))
        for measure in ("cosine", "coverage"):
            mode = "hybrid" if measure == "cosine" else "keyword"
            print(f"\nResults ({mode}): is a weak result one with no relevant hit in its first 10?\n")
            print(markdown_table(["weak when", "labelled weak", "precision", "recall", "foreign queries weak",
                                  "own queries with a relevant hit, weak"], result_rows(ranked, measure)))


if __name__ == "__main__":
    main()
