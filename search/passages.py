"""The semantic leg's article ranking: articles scored by their best passage near a vector.

A pure read of one generation's vectors and article store, shared by the Engine's semantic leg,
`similar` and the tuning scripts that rank with moved query vectors. Safe to call from several
threads on one view, as the view's stores are.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice
from operator import ge
from typing import TYPE_CHECKING

from index.storage.base import StoreView
from search.fusion import best_first

if TYPE_CHECKING:
    import numpy as np  # a keyword search never needs numpy


def best_passages(
    view: StoreView, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None
) -> tuple[list[tuple[str, float]], dict[str, int]]:
    """The `limit` articles whose best passage is nearest `vector` (among `allowed` passage ids,
    all when None), best first with ties by id, and each article's best passage id."""
    total = len(view.vectors) if allowed is None else len(allowed)
    want = limit * 4  # articles have several passages; fetch enough to reach `limit` articles
    while True:
        found = view.vectors.search(vector, min(want, total), allowed)
        article_of = view.docs.passage_articles([pid for pid, _ in found])
        best: dict[str, int] = {}  # each article's best passage
        run: list[tuple[str, float]] = []  # each article with its best passage's score
        for pid, score in found:
            article_id = article_of[pid]
            if article_id not in best:  # passages come best first
                best[article_id] = pid
                run.append((article_id, score))
        if len(best) >= limit or want >= total:
            break
        want *= 4
    return best_first(_leading(run, limit))[:limit], best


def _leading(run: list[tuple[str, float]], limit: int) -> list[tuple[str, float]]:
    """The part of `run` that holds its `limit` best, by score and then id: when its scores
    come best first (as the vector stores return them), its first `limit` and any tied with the
    last of them. Sorting the ~300 articles that ~400 passages name to keep 100 cost more than
    the rest of the mapping."""
    if len(run) <= limit:
        return run
    scores = [score for _article_id, score in run]
    if not all(map(ge, scores, islice(scores, 1, None))):  # not best first: all of it is sorted
        return run
    end = limit
    while end < len(run) and scores[end] == scores[limit - 1]:
        end += 1
    return run[:end]
