"""BM25F for plain OR queries, computed over whoosh's postings with numpy arrays.

whoosh scores a query one posting at a time in Python (four to six calls per posting), which
is most of a keyword search on a large index: at 100k articles an 8-word query touches ~40k
postings. A query that is only words OR-ed over fields (the usual analyst query, and
more-like-this) needs nothing but each term's postings, so here they are read a block at a time
and scored with the same BM25F formula, in the same order of floating-point operations as
whoosh's `PreloadedOr`, which makes the scores identical, not just close; ties are broken by
document number as whoosh's collector does. `tests/test_keyword_arrays.py` holds this to
whoosh's own results on indexes with several segments and deletions, with and without filters.

Anything else (phrases, AND/NOT, prefixes, ranges, a coordination bonus) returns None and the
caller searches through whoosh. The block reading uses whoosh 3-codec internals (`_read_data`,
`_data`, `_byteids`, `_next_block`, the length column's file position): whoosh-reloaded is pinned
to the versions this is tested on, `fast_path_status` checks those internals when an index is
opened, and if they are missing (or a query finds them changed) the scorer is switched off,
whoosh answers instead (same results, ~4x slower at 100k articles), and Accord says so once on
stderr and in `accord stats`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from whoosh import query as whoosh_query
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

if TYPE_CHECKING:
    import numpy as np
    from whoosh.searching import Searcher

# Below this many documents whoosh's own search takes a few milliseconds and a cold process
# would spend more importing numpy (~60 ms) than it saves, so a smaller index is scored here
# only once something else loaded numpy (a warm engine's semantic leg has): then the arrays
# are ~3x faster at 2,000 articles too (docs/performance.md, warm queries at any size).
MIN_DOCUMENTS = 5000
# Postings kept decoded and scored per scorer (one per thread), least recently used out first:
# a warm process meets the same common words query after query, and reading a term's postings
# through whoosh's blocks is most of what a query costs here. 16 bytes each: 1M is 16 MB.
CACHED_POSTINGS = 1_000_000
FAST_PATH_ON = "on"
FAST_PATH_SMALL = f"on once numpy is loaded (fewer than {MIN_DOCUMENTS:,} articles)"

log = logging.getLogger("accord")
_warned = threading.Event()


def fast_path_status(documents: int) -> str:
    """Whether the array scorer serves an index of `documents` articles: FAST_PATH_ON,
    FAST_PATH_SMALL (when the process has numpy loaded), or "off: <reason>" when whoosh's
    internals are not what it reads."""
    missing = _missing_internals()
    if missing:
        return _switched_off(f"whoosh lacks {missing}")
    return FAST_PATH_ON if documents >= MIN_DOCUMENTS else FAST_PATH_SMALL


def _missing_internals() -> str:
    """The whoosh internals the scorer reads that this whoosh does not have ('' if none)."""
    try:
        from whoosh.codec import whoosh3
    except ImportError as err:
        return f"whoosh.codec.whoosh3 ({err})"
    wanted = [(whoosh3.W3LeafMatcher, name) for name in ("_read_data", "_next_block", "is_active")]
    wanted += [(whoosh3, "LENGTHS_COLUMN"), (whoosh3, "_lenfield")]
    return ", ".join(f"{getattr(owner, '__name__', owner)}.{name}" for owner, name in wanted if not hasattr(owner, name))


def _switched_off(reason: str) -> str:
    if not _warned.is_set():
        _warned.set()
        log.warning("accord: warning: fast keyword scoring is off (%s); whoosh scores instead, slower", reason)
    return f"off: {reason}"


class ArrayBM25F:
    """Top documents of plain OR queries by BM25F (whoosh's formula), over one open searcher.

    Not thread-safe (it reads through its searcher's files): one per thread, as the keyword
    store keeps them.
    """

    def __init__(self, searcher: Searcher, b: float, k1: float, *, enabled: bool | None = None) -> None:
        self._searcher = searcher
        self._b = b
        self._k1 = k1
        self._lengths: dict[tuple[int, str], np.ndarray] = {}
        # (segment reader, field, term) -> its undeleted document numbers and unboosted BM25F
        # leaf scores: a generation's segments never change, so neither do these.
        self._terms: OrderedDict[tuple[int, str, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached = 0
        self.enabled = enabled if enabled is not None else True
        self._small = searcher.doc_count_all() < MIN_DOCUMENTS
        self.disabled_reason: str | None = None

    def top(
        self, query: whoosh_query.Query, limit: int, allowed: Iterable[int] | None = None
    ) -> list[tuple[int, float]] | None:
        """The best `limit` (document number, score) pairs, best first, among `allowed`
        document numbers when given; None when this scorer cannot score the query."""
        if not self.supports(query):
            return None
        import numpy as np

        total = self._searcher.doc_count_all()
        scores = np.zeros(total, dtype=np.float64)
        matched = np.zeros(total, dtype=bool)
        try:
            for reader, base in self._searcher.reader().leaf_readers():
                part = self._score(query, reader)
                if isinstance(part, _Sparse):
                    scores[base + part.ids] = part.scores
                    matched[base + part.ids] = True
                elif part is not None:
                    part_scores, part_matched = part
                    scores[base : base + len(part_scores)] = part_scores
                    matched[base : base + len(part_matched)] = part_matched
        except (AttributeError, TypeError) as err:
            # whoosh's internals changed: search through whoosh from now on, and say so once.
            self.enabled = False
            self.disabled_reason = _switched_off(f"whoosh's postings are not as expected: {err}")
            return None
        if allowed is not None:
            keep = np.zeros(total, dtype=bool)
            keep[np.fromiter(allowed, dtype=np.int64)] = True
            matched &= keep
        found = np.flatnonzero(matched)
        if not len(found):
            return []
        found_scores = scores[found]
        if 0 < limit < len(found):
            # Only what scores at least the limit-th best score (ties included) can be among the
            # best `limit`: sorting those alone gives the same list as sorting every match.
            cut = np.partition(found_scores, len(found) - limit)[len(found) - limit]
            keep = found_scores >= cut
            found, found_scores = found[keep], found_scores[keep]
        # Best score first; equal scores by document number, as whoosh's top-N collector keeps them.
        order = np.lexsort((found, -found_scores))[:limit]
        return list(zip(found[order].tolist(), found_scores[order].tolist(), strict=True))

    def term_documents(self, term: whoosh_query.Term) -> np.ndarray | None:
        """The undeleted document numbers holding `term` (from the postings `top` keeps), or
        None when this scorer is off."""
        if not self._serving():
            return None
        import numpy as np

        found = []
        try:
            for reader, base in self._searcher.reader().leaf_readers():
                part = self._term(term, reader)
                if part is not None:
                    found.append(part.ids + base)
        except (AttributeError, TypeError) as err:
            self.enabled = False
            self.disabled_reason = _switched_off(f"whoosh's postings are not as expected: {err}")
            return None
        return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)

    def supports(self, query: whoosh_query.Query) -> bool:
        """Whether `top` can score `query`: a plain OR of terms, on an index large enough or
        in a process that has numpy loaded already."""
        return self._serving() and _plain_or(query, self._searcher.schema)

    def _serving(self) -> bool:
        return self.enabled and (not self._small or "numpy" in sys.modules)

    def _score(self, query: whoosh_query.Query, reader) -> _Sparse | tuple[np.ndarray, np.ndarray] | None:
        """A term's scores as _Sparse, an OR's as dense (scores, matched) over one segment's
        documents, or None if nothing matches."""
        import numpy as np

        if isinstance(query, whoosh_query.Term):
            return self._term(query, reader)
        parts = [p for p in (self._score(sub, reader) for sub in query.subqueries) if p is not None]
        if len(query.subqueries) == 1:
            return parts[0] if parts else None  # whoosh hands a lone clause's matcher up unboosted
        if not parts:
            return None
        count = reader.doc_count_all()
        scores = np.zeros(count, dtype=np.float64)
        matched = np.zeros(count, dtype=bool)
        for part in parts:  # in clause order, as PreloadedOr adds them
            # Adding only where a clause matched is the dense sum exactly: elsewhere it adds 0.0.
            if isinstance(part, _Sparse):
                scores[part.ids] += part.scores * query.boost
                matched[part.ids] = True
            else:
                scores += part[0] * query.boost
                matched |= part[1]
        return scores, matched

    def _term(self, term: whoosh_query.Term, reader) -> _Sparse | None:
        schema = self._searcher.schema
        if term.fieldname not in schema:
            return None
        try:
            text = schema[term.fieldname].to_bytes(term.text)
        except ValueError:
            return None
        key = (id(reader), term.fieldname, text)
        found = self._terms.get(key)
        if found is None:
            found = self._leaf_scores(term.fieldname, text, reader)
            if found is None:
                return None
            self._remember(key, found)
        else:
            self._terms.move_to_end(key)
        ids, leaf = found
        # whoosh multiplies a boosted term's score last (whoosh.scoring.BM25F's scorer).
        return _Sparse(ids, leaf * term.boost if term.boost != 1.0 else leaf)

    def _remember(self, key: tuple[int, str, bytes], found: tuple[np.ndarray, np.ndarray]) -> None:
        self._terms[key] = found
        self._cached += len(found[0])
        while self._cached > CACHED_POSTINGS and len(self._terms) > 1:
            _key, (ids, _leaf) = self._terms.popitem(last=False)
            self._cached -= len(ids)

    def _leaf_scores(self, fieldname: str, text: bytes, reader) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's undeleted document numbers in one segment and their unboosted BM25F scores."""
        import numpy as np

        if (fieldname, text) not in reader:
            return None
        matcher = reader.postings(fieldname, text)
        deleted = None
        if isinstance(matcher, FilterMatcher):  # the segment has deletions
            deleted = reader.deleted_docs_set
            matcher = matcher.child
        ids, weights = _postings(matcher)
        if deleted:
            keep = ~np.isin(ids, np.fromiter(deleted, dtype=np.int64))
            ids, weights = ids[keep], weights[keep]

        top = self._searcher
        idf = top.idf(fieldname, text)
        avgfl = top.avg_field_length(fieldname) or 1
        lengths = self._field_lengths(reader, fieldname)[ids]
        b, k1 = self._b, self._k1
        # whoosh.scoring.bm25, term by term in its order of operations.
        leaf = idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * lengths / avgfl)))
        return ids, leaf

    def _field_lengths(self, reader, fieldname: str) -> np.ndarray:
        """Every document's length in `fieldname` as whoosh's scorer sees it (one byte each,
        decoded), read once per segment."""
        import numpy as np

        key = (id(reader), fieldname)
        if key not in self._lengths:
            from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield

            count = reader.doc_count_all()
            column = reader._perdoc._cached_reader(_lenfield(fieldname), LENGTHS_COLUMN)
            raw = np.zeros(count, dtype=np.uint8)
            if column is not None:
                stored = np.frombuffer(column._dbfile.get(column._basepos, column._count), dtype=np.uint8)
                raw[: len(stored)] = stored[:count]
            decode = np.array([byte_to_length(v) for v in range(256)], dtype=np.float64)
            # A zero byte reads as the segment's shortest length (whoosh's min_field_length, the
            # smallest stored byte decoded); with no length column at all, as 1.
            decode[0] = byte_to_length(int(raw.min())) if column is not None else 1
            self._lengths[key] = decode[raw]
        return self._lengths[key]


class _Sparse:
    """One term's scores in a segment: the documents it matches and their scores."""

    __slots__ = ("ids", "scores")

    def __init__(self, ids: np.ndarray, scores: np.ndarray) -> None:
        self.ids = ids
        self.scores = scores


def _plain_or(query: whoosh_query.Query, schema) -> bool:
    """Whether `query` is a term of a scorable field (whoosh weighs a term of a field without
    lengths, such as `source`, otherwise than BM25F), or an OR (no coordination bonus) of plain
    ORs and such terms."""
    if isinstance(query, whoosh_query.Term):
        return query.fieldname not in schema or schema[query.fieldname].scorable
    if isinstance(query, whoosh_query.Or) and not query.scale:  # every whoosh Or sums its clauses
        return all(_plain_or(sub, schema) for sub in query.subqueries)
    return False


def _postings(matcher) -> tuple[np.ndarray, np.ndarray]:
    """All (document numbers, weights) of a term's postings in one segment."""
    import numpy as np
    from whoosh.codec.whoosh3 import W3LeafMatcher

    ids: list = []
    weights: list = []
    if isinstance(matcher, W3LeafMatcher):
        while matcher.is_active():
            matcher._read_data()  # the block's (ids, weights, values), as whoosh stores it
            block_ids, block_weights = matcher._data[0], matcher._data[1]
            block_ids = np.asarray(block_ids, dtype=np.int64)
            # whoosh stores ids as deltas unless they fit in bytes (W3LeafMatcher._read_ids).
            ids.append(block_ids if matcher._byteids else np.cumsum(block_ids))
            if block_weights is None or isinstance(block_weights, float):  # all 1.0, or all the same
                block_weights = np.full(len(block_ids), 1.0 if block_weights is None else block_weights,
                                        dtype=np.float32)
            # float32 as whoosh keeps them, widened as Python widens each one it reads.
            weights.append(np.asarray(block_weights).astype(np.float64))
            matcher._next_block()
    else:  # e.g. a term with one posting, stored inline: few postings, read one by one
        found_ids, found_weights = [], []
        while matcher.is_active():
            found_ids.append(matcher.id())
            found_weights.append(matcher.weight())
            matcher.next()
        ids.append(np.asarray(found_ids, dtype=np.int64))
        weights.append(np.asarray(found_weights, dtype=np.float64))
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return np.concatenate(ids), np.concatenate(weights)
