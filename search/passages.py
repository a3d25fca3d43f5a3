"""The semantic leg's article ranking: articles scored by their best passage near a vector.

A pure read of one generation's vectors and article store, shared by the Engine's semantic leg,
`similar` and the tuning scripts that rank with moved query vectors. Safe to call from several
threads on one view, as the view's stores are.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        best: dict[str, tuple[float, int]] = {}
        for pid, score in found:
            article_id = article_of[pid]
            if article_id not in best:  # passages come best first
                best[article_id] = (score, pid)
        if len(best) >= limit or want >= total:
            break
        want *= 4
    run = best_first([(a, score) for a, (score, _pid) in best.items()])
    return run[:limit], {a: pid for a, (_score, pid) in best.items()}
