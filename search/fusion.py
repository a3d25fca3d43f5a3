"""Fusing the keyword and semantic rankings into one. Pure functions over ranked lists.

A run is a list of `(doc_id, score)` pairs, best first. Decisions, made on purpose:

- Reciprocal rank fusion uses only ranks: score(d) = sum over runs of 1 / (k + rank), rank
  counted from 1, k = 60 as in Cormack, Clarke and Buettcher (SIGIR 2009). A document missing
  from a run gets nothing from it, as if ranked at infinity.
- The convex combination never adds raw BM25 to cosine: each run is scaled to [0, 1] first.
  By default (`scale="max"`) each score is divided by the run's best, below-zero scores (a
  cosine can be negative) counting as 0: BM25 and a cosine both start at 0, so a fetched score
  has the same scaled value however deep its run was fetched (and since the engine scores each
  candidate by both legs, `Engine._completed`, a first page fused from 30 candidates a leg is
  the first page of a search fetching 1,000 on 341 of 343 dev queries). Min-max scaling
  (`scale="min-max"`, the default before docs/tuning.md's D table) maps the run's lowest
  fetched score to 0, so every share moved with the depth: a first page of ten
  and the first ten of a search for a hundred matched on 19 of 343 dev queries (max: 286, before
  the candidates were completed), and the first page scored 0.0043 lower (nDCG@10, mean of TIME
  dev, CISI and Cranfield). A document missing from a run gets 0 from it (it
  ranked below every candidate that run returned). When a run cannot order its candidates
  (min-max: every score equal; max: the best not above 0), all of them get 1.0 under min-max, as
  good as the best that run found, and 0.0 under max, which has no scale to read them on.
- Ties in the fused score are broken by the best rank a document has in any run, then by id, so
  the order is deterministic.
- A coverage boost (`boost_by_coverage`) adds `weight` x the share of the query's idf weight a
  document's words hold, after fusion (then divides by 1 + weight, so scores stay in [0, 1]): Lucene's old coordination factor, with each word weighed
  by its rarity, so an article naming the query's one rare name is lifted over articles that
  only share its common words. Measured in docs/relevance.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Literal, get_args

Run = Sequence[tuple[str, float]]
Scale = Literal["max", "min-max"]  # how the convex combination scales each run (see above)
SCALES: tuple[str, ...] = get_args(Scale)

RRF_K = 60


def reciprocal_rank_fusion(runs: Sequence[Run], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse runs by reciprocal rank: sum of 1 / (k + rank) over the runs a document is in."""
    if k < 0:
        raise ValueError("the RRF constant k must not be negative")
    scores: dict[str, float] = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return _ordered(scores, runs)


def min_max(run: Run) -> dict[str, float]:
    """Scores of a run scaled to [0, 1]; all 1.0 when they are all equal."""
    if not run:
        return {}
    values = [score for _doc, score in run]
    low, high = min(values), max(values)
    if high == low:
        return dict.fromkeys([doc_id for doc_id, _score in run], 1.0)
    span = high - low
    return {doc_id: (score - low) / span for doc_id, score in run}


def max_scaled(run: Run) -> dict[str, float]:
    """Scores of a run divided by its best, below-zero ones as 0; all 0.0 when the best is not
    above 0."""
    if not run:
        return {}
    high = max(score for _doc, score in run)
    if high <= 0.0:
        return dict.fromkeys([doc_id for doc_id, _score in run], 0.0)
    return {doc_id: score / high if score > 0.0 else 0.0 for doc_id, score in run}


def convex_fusion(keyword: Run, semantic: Run, weight: float = 0.5, scale: Scale = "max") -> list[tuple[str, float]]:
    """Fuse two runs as weight * keyword + (1 - weight) * semantic, each scaled to [0, 1] by
    `scale`: "max" (divided by the run's best) or "min-max"."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError("the convex weight must be between 0 and 1")
    if scale not in SCALES:
        raise ValueError(f"the convex scale must be one of {', '.join(SCALES)}, not {scale!r}")
    scaled = max_scaled if scale == "max" else min_max
    keyword_norm, semantic_norm = scaled(keyword), scaled(semantic)
    rest, keyword_score, semantic_score = 1.0 - weight, keyword_norm.get, semantic_norm.get
    scores = {
        doc_id: weight * keyword_score(doc_id, 0.0) + rest * semantic_score(doc_id, 0.0)
        for doc_id in keyword_norm.keys() | semantic_norm.keys()
    }
    return _ordered(scores, (keyword, semantic))


def best_first(run: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """`run` best score first, equal scores by id (the order each leg returns)."""
    # Two stable sorts on C-level keys (by id, then by score, reversed: Python's sort keeps the
    # order of equal keys either way), not one on a Python key function: legs sort a few hundred
    # hits a search.
    ordered = sorted(run, key=itemgetter(0))
    ordered.sort(key=itemgetter(1), reverse=True)
    return ordered


def _ordered(scores: dict[str, float], runs: Sequence[Run]) -> list[tuple[str, float]]:
    """`scores` by score, descending, then by best rank in `runs`, then by id."""
    best_rank: dict[str, int] = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            best_rank[doc_id] = min(rank, best_rank.get(doc_id, rank))
    # Stable sorts from the last key to the first.
    ids = sorted(scores)
    ids.sort(key=best_rank.__getitem__)
    ids.sort(key=scores.__getitem__, reverse=True)
    return [(doc_id, scores[doc_id]) for doc_id in ids]


def boost_by_coverage(run: Run, coverage: Mapping[str, float | None], weight: float) -> list[tuple[str, float]]:
    """`run` re-ranked by (score + weight * coverage) / (1 + weight), coverage 0 to 1 (missing or
    None: 0), ties kept in the run's order. Dividing keeps scores of runs in [0, 1] there. A run
    in which no document has any coverage is returned as it is."""
    if weight < 0.0:
        raise ValueError("the coverage weight must not be negative")
    if weight == 0.0 or not any(coverage.get(doc_id) for doc_id, _score in run):
        return list(run)
    boosted = [(doc_id, (score + weight * (coverage.get(doc_id) or 0.0)) / (1.0 + weight)) for doc_id, score in run]
    boosted.sort(key=itemgetter(1), reverse=True)  # stable: ties stay in the run's order
    return boosted
