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

`expanded_kept` keeps the documents it read last, prepared (their terms' ids, weights and total),
so a document among an earlier query's feedback documents is neither decoded nor looked up again;
`hold_documents` prepares a warm store's documents all at once, up to HELD_TERMS terms.

Thread safety: one `Bo1Expansion` serves every thread of a keyword store. New terms are
registered under a lock; a term's id is published last, after its frequency and text, so a
thread that finds an id finds both. The kept documents are read and replaced under a lock of
their own, and their arrays are read-only: a document two threads read at once is prepared
twice, to equal arrays, and kept once. The held documents are published as one finished
mapping, replaced whole and read without a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from whoosh import classify

if TYPE_CHECKING:
    import numpy as np  # imported where used: only a hybrid search's feedback needs it

# A term's approximate score (numpy's logarithms) is within a few units in the last place of
# its exact one; terms this close (relatively) to the cut are rescored exactly too.
_CLOSE = 1e-9
# Feedback documents kept prepared (term ids, weights, total) by `expanded_kept`: a query's best
# articles are often among earlier queries' (at 10,000 Reuters articles, a third of 200 queries'
# top 5 had been read for an earlier one), and reading one (inflating and parsing its stored
# terms, finding each term's id) is most of what its share of an expansion costs. A few KB each.
CACHED_DOCUMENTS = 1000
# Terms of the feedback documents a warm store holds prepared (`hold_documents`), 16 bytes each
# (an id and a weight) and ~300 bytes a document besides: 1M is ~20 MB, every article of the
# benchmark's 10,000 news articles (656,207 terms) and 18,994 of its 28,828. Reading and
# preparing a document is most of what its share of an expansion costs, and a fresh server meets
# most articles for the first time: holding them (0.05 s at warm-up for 2,000 articles, 0.25 s for
# 10,000) made a warm hybrid search's p50 CPU 0.95x at 2,000 and 0.93x at 10,000 articles, in
# turns (docs/performance.md, section 13, eleventh round).
HELD_TERMS = 1_000_000

# Reads the collection frequency of each of these terms (None: not in the field).
Frequencies = Callable[[Sequence[str]], Sequence[float | None]]
# One feedback document: its distinct terms and each one's weight (count), in one order.
Document = tuple[Sequence[str], Sequence[float]]
Key = TypeVar("Key", bound=Hashable)


class Bo1Expansion:
    """The Bo1 expansion terms of some documents of one index (a keyword index's generation),
    as `classify.Expander(reader, field, Bo1Model).expanded_terms(count)` gives them."""

    def __init__(self, documents: int, field_length: float) -> None:
        self.model = classify.Bo1Model(documents, field_length)
        self._ids: dict[str, int] = {}
        self._terms: list[str] = []
        self._frequencies: np.ndarray | None = None  # by id (NaN: not in the field); spare room at the end
        self._lock = threading.Lock()
        # Documents read by key (`expanded_kept`), prepared (None: no terms); most recently used last.
        self._kept: OrderedDict[Hashable, _Prepared | None] = OrderedDict()
        self._kept_lock = threading.Lock()
        # Documents prepared at once by `hold_documents` (None: no terms), never evicted.
        self._held: Mapping[Hashable, _Prepared | None] = {}

    def expanded(self, documents: Sequence[Document], count: int, frequencies: Frequencies) -> list[tuple[str, float]]:
        """The `count` terms of `documents` that most set them apart from the collection, with
        their normalised Bo1 weights (largest first, the largest 1.0; ties by term).
        `frequencies` reads terms' collection frequencies for terms not met before."""
        return self._expanded([self._prepared(terms, weights, frequencies) for terms, weights in documents], count)

    def expanded_kept(
        self, keys: Sequence[Key], read: Callable[[Key], Document | None], count: int, frequencies: Frequencies
    ) -> list[tuple[str, float]] | None:
        """`expanded` of the documents `read` gives for `keys` (an article's stored terms by its
        id), or None when it gives None for one of them. The last CACHED_DOCUMENTS documents read
        are kept prepared by key, so a key must name the same document for as long as this
        expansion serves (an index generation never changes), and `read` is called only for keys
        not kept."""
        prepared: list[_Prepared | None] = []
        held = self._held
        for key in keys:
            if key in held:
                prepared.append(held[key])
                continue
            with self._kept_lock:
                kept = key in self._kept
                if kept:
                    self._kept.move_to_end(key)
                    found = self._kept[key]
            if not kept:
                document = read(key)
                if document is None:
                    return None
                found = self._prepared(*document, frequencies)
                with self._kept_lock:
                    self._kept[key] = found
                    while len(self._kept) > CACHED_DOCUMENTS:
                        self._kept.popitem(last=False)
            prepared.append(found)
        return self._expanded(prepared, count)

    def hold_documents(self, documents: Iterable[tuple[Key, Document]], frequencies: Frequencies) -> int:
        """Prepare and keep these (key, document) pairs for `expanded_kept`, whose `read` is then
        not called for them, in their order until they hold HELD_TERMS terms; the documents
        held. Keys as for `expanded_kept`. Replaces what an earlier call held."""
        held: dict[Hashable, _Prepared | None] = {}
        terms = 0
        for key, document in documents:
            terms += len(document[0])
            if terms > HELD_TERMS:
                break
            held[key] = self._prepared(*document, frequencies)
        self._held = held
        return len(held)

    def hold(self, frequencies: Mapping[str, float]) -> None:
        """Register these terms with their collection frequencies now (a warm server's whole
        lexicon, read in one pass), so no expansion looks one up one by one."""
        self._register(list(frequencies), lambda terms: [frequencies[term] for term in terms])

    def _prepared(self, terms: Sequence[str], weights: Sequence[float], frequencies: Frequencies) -> _Prepared | None:
        """One document as `_expanded` reads it: its terms' ids, their weights and their total
        (None: it has no terms)."""
        import numpy as np

        if not len(terms):
            return None
        ids = self._term_ids(terms, frequencies)
        values = np.asarray(weights, dtype=np.float64)
        # Expander.add: the document's total in its own order (cumsum adds in turn).
        total = float(np.cumsum(values)[-1])
        ids.flags.writeable = values.flags.writeable = False  # shared by threads once kept
        return _Prepared(ids, values, total)

    def _expanded(self, prepared: Sequence[_Prepared | None], count: int) -> list[tuple[str, float]]:
        import numpy as np

        documents = [document for document in prepared if document is not None]
        if not documents or count < 1:
            return []
        table = self._frequencies  # read after the ids: it holds every id published so far
        assert table is not None  # a term has an id only once the table holds its frequency
        # Expander.add: the documents' totals into the running total, in their order; each
        # term's weight summed over the documents in their order (bincount adds in turn).
        top_total = 0.0
        for document in documents:
            top_total += document.total
        ids = np.concatenate([document.ids for document in documents])
        unique, inverse = np.unique(ids, return_inverse=True)
        top_weight = np.bincount(inverse, weights=np.concatenate([document.weights for document in documents]))
        collection = table[unique]
        indexed = ~np.isnan(collection)
        if not indexed.all():
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
        weights, frequencies, numbers = top_weight[near].tolist(), collection[near].tolist(), unique[near].tolist()
        scored = [(model.score(weight, frequency, top_total), terms[number])
                  for weight, frequency, number in zip(weights, frequencies, numbers, strict=True)]
        norm = model.normalizer(max(score for score, _term in scored), top_total)
        ranked = sorted(((score / norm, term) for score, term in scored), key=lambda x: (-x[0], x[1]))
        return [(term, float(weight)) for weight, term in ranked[:count]]

    def _term_ids(self, terms: Sequence[str], frequencies: Frequencies) -> np.ndarray:
        """The ids of `terms`, registering those not met before."""
        import numpy as np

        try:
            return np.fromiter(map(self._ids.__getitem__, terms), dtype=np.int64, count=len(terms))
        except KeyError:
            self._register([term for term in terms if term not in self._ids], frequencies)
            return np.fromiter(map(self._ids.__getitem__, terms), dtype=np.int64, count=len(terms))

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


class _Prepared(NamedTuple):
    """A document's term ids (in a `Bo1Expansion`), their weights, and the weights' total."""

    ids: np.ndarray
    weights: np.ndarray
    total: float
