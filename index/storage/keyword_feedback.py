"""Bo1 expansion terms for pseudo-relevance feedback, computed with numpy arrays.

whoosh's `classify.Expander` (the model `more_like_this` uses) weighs each term of the feedback
documents by Bo1 (Amati's divergence from randomness) against its collection frequency, in a
Python loop over every distinct term, and sorts them all; over five news articles that is a few
hundred to a thousand terms a query. Here each term gets an id the first time it is met, with
its collection frequency read once into an array (one index generation never changes), so a
query's expansion is a few array operations over ids: the terms' weights in the documents
summed per id (`np.bincount`, in document order, as `Expander.add` sums them), the Bo1 score of
every term at once, and the best few picked out.

The scores are then recomputed for those few (and any within a hair of the last of them) with
whoosh's own `Bo1Model`, in its floating-point operations: numpy's logarithms may differ from
the math module's in the last bit, and a term's weight goes into the second run's scores, so
the terms, their order and their weights come back exactly as whoosh's Expander gives them
(`tests/test_stored_feedback.py`, `tests/test_keyword_feedback.py`).

Thread safety: one `Bo1Expansion` serves every thread of a keyword store. New terms are
registered under a lock; a term's id is published last, after its frequency and text, so a
thread that finds an id finds both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from whoosh import classify

if TYPE_CHECKING:
    import numpy as np  # imported where used: only a hybrid search's feedback needs it

# A term's approximate score (numpy's logarithms) is within a few units in the last place of
# its exact one; terms this close (relatively) to the cut are rescored exactly too.
_CLOSE = 1e-9

# Reads the collection frequency of each of these terms (None: not in the field).
Frequencies = Callable[[Sequence[str]], Sequence[float | None]]
# One feedback document: its distinct terms and each one's weight (count), in one order.
Document = tuple[Sequence[str], Sequence[float]]


class Bo1Expansion:
    """The Bo1 expansion terms of some documents of one index (a keyword index's generation),
    as `classify.Expander(reader, field, Bo1Model).expanded_terms(count)` gives them."""

    def __init__(self, documents: int, field_length: float) -> None:
        self.model = classify.Bo1Model(documents, field_length)
        self._ids: dict[str, int] = {}
        self._terms: list[str] = []
        self._frequencies: np.ndarray | None = None  # by id (NaN: not in the field); spare room at the end
        self._lock = threading.Lock()

    def expanded(self, documents: Sequence[Document], count: int, frequencies: Frequencies) -> list[tuple[str, float]]:
        """The `count` terms of `documents` that most set them apart from the collection, with
        their normalised Bo1 weights (largest first, the largest 1.0; ties by term).
        `frequencies` reads terms' collection frequencies for terms not met before."""
        import numpy as np

        documents = [(terms, weights) for terms, weights in documents if len(terms)]
        if not documents or count < 1:
            return []
        ids, table = self._term_ids([term for terms, _weights in documents for term in terms], frequencies)
        per_document = [np.asarray(w, dtype=np.float64) for _terms, w in documents]
        # Expander.add: each document's total in its own order (cumsum adds in turn), then into
        # the running total; each term's weight summed over the documents in their order.
        top_total = 0.0
        for w in per_document:
            top_total += float(np.cumsum(w)[-1])
        unique, inverse = np.unique(ids, return_inverse=True)
        top_weight = np.bincount(inverse, weights=np.concatenate(per_document))
        collection = table[unique]
        indexed = ~np.isnan(collection)
        unique, top_weight, collection = unique[indexed], top_weight[indexed], collection[indexed]
        if not len(unique):
            return []
        f = collection / self.model.N
        approx = top_weight * np.log2((1.0 + f) / f) + np.log2(1.0 + f)
        last = len(approx) - min(count, len(approx))  # where the count-th best falls in ascending order
        cut = np.partition(approx, last)[last]
        near = np.flatnonzero(approx >= cut - abs(cut) * _CLOSE)
        # Exactly as the Expander: whoosh's model, Python floats, sorted by (-weight, term).
        model, terms = self.model, self._terms
        scored = [(model.score(float(top_weight[i]), float(collection[i]), top_total), terms[unique[i]]) for i in near]
        norm = model.normalizer(max(score for score, _term in scored), top_total)
        ranked = sorted(((score / norm, term) for score, term in scored), key=lambda x: (-x[0], x[1]))
        return [(term, float(weight)) for weight, term in ranked[:count]]

    def _term_ids(self, terms: Sequence[str], frequencies: Frequencies) -> tuple[np.ndarray, np.ndarray]:
        """The ids of `terms`, registering those not met before, and the collection frequency
        table they index."""
        import numpy as np

        ids = list(map(self._ids.get, terms))
        if None in ids:
            self._register([term for term, i in zip(terms, ids, strict=True) if i is None], frequencies)
            ids = list(map(self._ids.__getitem__, terms))
        table = self._frequencies  # read after the ids: it holds every id published so far
        assert table is not None  # a term has an id only once the table holds its frequency
        return np.array(ids, dtype=np.int64), table

    def _register(self, terms: Sequence[str], frequencies: Frequencies) -> None:
        import numpy as np

        with self._lock:
            new = [term for term in dict.fromkeys(terms) if term not in self._ids]
            if not new:
                return
            start, end = len(self._terms), len(self._terms) + len(new)
            table = self._frequencies
            if table is None or len(table) < end:
                grown = np.full(max(2 * end, 1024), np.nan)
                if table is not None:
                    grown[:start] = table[:start]
                table = grown
            table[start:end] = [np.nan if cf is None else cf for cf in frequencies(new)]
            self._terms.extend(new)
            self._frequencies = table
            for number, term in enumerate(new, start):
                self._ids[term] = number
