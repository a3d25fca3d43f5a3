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
caller searches through whoosh. The block reading uses whoosh 3-codec internals (a segment
reader's terms reader and its `matcher`, a block's file extent, compression and length, the
pickled layout of its data that `_ids_and_weights` reads, `_read_data`, `_data`, `_byteids`,
`_next_block`, the length column's file position): whoosh-reloaded is pinned to the versions
this is tested on, `fast_path_status` checks those internals when an index is opened, and if
they are missing (or a query finds them changed) the scorer is switched off, whoosh answers
instead (same results, ~4x slower at 100k articles), and Accord says so once on stderr and in
`accord stats`. A block laid out otherwise is read whole through `_read_data`.
"""

from __future__ import annotations

import logging
import pickle
import sys
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from whoosh import query as whoosh_query
from whoosh.matching.wrappers import FilterMatcher
from whoosh.reading import SegmentReader, TermNotFound
from whoosh.util.numeric import byte_to_length

if TYPE_CHECKING:
    import numpy as np
    from whoosh.searching import Searcher

# Below this many documents whoosh's own search takes a few milliseconds and a cold process
# would spend more importing numpy (~60 ms) than it saves, so a smaller index is scored here
# only once something else loaded numpy (a warm engine's semantic leg has): then the arrays
# are ~3x faster at 2,000 articles too (docs/performance.md, warm queries at any size).
MIN_DOCUMENTS = 5000
# Postings kept decoded and scored per keyword store (one generation, shared by its threads),
# least recently used out first: a warm process meets the same common words query after query,
# and reading a term's postings through whoosh's blocks is most of what a query costs here.
# 16 bytes each: 4M is 64 MB, every body posting of ~65,000 news articles (~60 postings each).
CACHED_POSTINGS = 4_000_000
FAST_PATH_ON = "on"
FAST_PATH_SMALL = f"on once numpy is loaded (fewer than {MIN_DOCUMENTS:,} articles)"

log = logging.getLogger("accord")
# A field's terms in every segment: (segment reader, the term's bytes, its whoosh TermInfo).
Lexicon = list[tuple[Any, bytes, Any]]
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
    wanted += [(whoosh3.W3TermsReader, "matcher")]
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
    store keeps them. The postings it decodes go into `held`, which the store gives every
    thread's scorer of one index (`HeldPostings` is safe to share), so a term one thread read
    serves them all.
    """

    def __init__(
        self, searcher: Searcher, b: float, k1: float, *, enabled: bool | None = None, held: HeldPostings | None = None
    ) -> None:
        self._searcher = searcher
        self._b = b
        self._k1 = k1
        self._lengths: dict[tuple[int, str], np.ndarray] = {}
        self._deletions: dict[int, np.ndarray | None] = {}
        # The decoded postings, shared with the other threads' scorers of the same index when given.
        self.held = held if held is not None else HeldPostings()
        self.enabled = enabled if enabled is not None else True
        self._small = searcher.doc_count_all() < MIN_DOCUMENTS
        self.disabled_reason: str | None = None
        self._last: tuple[whoosh_query.Query, np.ndarray, np.ndarray] | None = None  # see `_matches`

    def top(
        self, query: whoosh_query.Query, limit: int, allowed: Iterable[int] | None = None
    ) -> list[tuple[int, float]] | None:
        """The best `limit` (document number, score) pairs, best first, among `allowed`
        document numbers when given; None when this scorer cannot score the query."""
        if not self.supports(query):
            return None
        import numpy as np

        matches = self._matches(query)
        if matches is None:
            return None
        found, found_scores = matches
        if not len(found):
            return []
        if allowed is not None:
            keep = np.zeros(self._searcher.doc_count_all(), dtype=bool)
            keep[np.fromiter(allowed, dtype=np.int64)] = True
            kept = keep[found]
            found, found_scores = found[kept], found_scores[kept]
        if not len(found):
            return []
        if 0 < limit < len(found):
            # Only what scores at least the limit-th best score (ties included) can be among the
            # best `limit`: sorting those alone gives the same list as sorting every match.
            cut = np.partition(found_scores, len(found) - limit)[len(found) - limit]
            keep = found_scores >= cut
            found, found_scores = found[keep], found_scores[keep]
        # Best score first; equal scores by document number, as whoosh's top-N collector keeps them.
        order = np.lexsort((found, -found_scores))[:limit]
        return list(zip(found[order].tolist(), found_scores[order].tolist(), strict=True))

    def _matches(self, query: whoosh_query.Query) -> tuple[np.ndarray, np.ndarray] | None:
        """Every document `query` matches (ascending numbers) and its score; None when whoosh's
        internals turn out otherwise (the scorer is then off).

        The last query's are kept, by identity (this scorer serves one thread): the engine asks
        the keyword leg's query again among a few articles (its completion of the semantic leg's
        candidates), and those are then picked out of the same floats instead of summed again.
        A query is never changed once made, and the one kept is referenced, so its identity
        cannot pass to another."""
        import numpy as np

        last = self._last
        if last is not None and last[0] is query:
            return last[1], last[2]
        # Each segment's matches (ascending document numbers) and their scores, segment after
        # segment: what the nonzero entries of one array over all documents would be, without
        # filling and scanning such an array.
        found_parts, score_parts = [], []
        try:
            for reader, base in self._searcher.reader().leaf_readers():
                part = self._score(query, reader)
                if isinstance(part, _Sparse):
                    found_parts.append(part.ids + base if base else part.ids)
                    score_parts.append(part.scores)
                elif part is not None:
                    part_scores, part_matched = part
                    where = np.flatnonzero(part_matched)
                    found_parts.append(where + base if base else where)
                    score_parts.append(part_scores[where])
        except (AttributeError, TypeError) as err:
            # whoosh's internals changed: search through whoosh from now on, and say so once.
            self.enabled = False
            self.disabled_reason = _switched_off(f"whoosh's postings are not as expected: {err}")
            return None
        if not found_parts:
            found, found_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
        else:
            found = found_parts[0] if len(found_parts) == 1 else np.concatenate(found_parts)
            found_scores = score_parts[0] if len(score_parts) == 1 else np.concatenate(score_parts)
        self._last = (query, found, found_scores)
        return found, found_scores

    def term_documents(self, term: whoosh_query.Term) -> np.ndarray | None:
        """The undeleted document numbers holding `term` (from the postings `top` keeps; not
        to be changed), or None when this scorer is off."""
        if not self._serving():
            return None
        import numpy as np

        found = []
        try:
            for reader, base in self._searcher.reader().leaf_readers():
                part = self._term(term, reader)
                if part is not None:
                    found.append(part.ids + base if base else part.ids)
        except (AttributeError, TypeError) as err:
            self.enabled = False
            self.disabled_reason = _switched_off(f"whoosh's postings are not as expected: {err}")
            return None
        if len(found) == 1:
            return found[0]  # the held postings as they are (read-only): one segment's, no copy
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
        boost = query.boost
        matched = np.zeros(count, dtype=bool)
        terms = [part for part in parts if isinstance(part, _Sparse)]
        if len(terms) == len(parts):  # the usual OR of words
            # bincount adds each document's scores in the order given, clause after clause, onto
            # 0.0: the sums below, in one pass.
            ids = np.concatenate([part.ids for part in terms])
            matched[ids] = True
            weights = np.concatenate([part.scores * boost if boost != 1.0 else part.scores for part in terms])
            return np.bincount(ids, weights=weights, minlength=count), matched
        scores = np.zeros(count, dtype=np.float64)
        for part in parts:  # in clause order, as PreloadedOr adds them
            # Adding only where a clause matched is the dense sum exactly: elsewhere it adds 0.0.
            # (A product with a boost of 1.0 is the score itself: skipping it changes no bit.)
            if isinstance(part, _Sparse):
                scores[part.ids] += part.scores * boost if boost != 1.0 else part.scores
                matched[part.ids] = True
            else:
                scores += part[0] * boost if boost != 1.0 else part[0]
                matched |= part[1]
        return scores, matched

    def _term(self, term: whoosh_query.Term, reader) -> _Sparse | None:
        # Kept by the term's text as the query holds it (a field turns it into bytes one way), so
        # a kept term is found without encoding it.
        key = (_segment_key(reader), term.fieldname, term.text)
        found = self.held.get(key)
        if found is None:
            schema = self._searcher.schema
            if term.fieldname not in schema:
                return None
            try:
                text = schema[term.fieldname].to_bytes(term.text)
            except ValueError:
                return None
            found = self._leaf_scores(term.fieldname, text, reader)
            if found is None:
                return None
            self.held.put(key, found)
        ids, leaf = found
        # whoosh multiplies a boosted term's score last (whoosh.scoring.BM25F's scorer).
        return _Sparse(ids, leaf * term.boost if term.boost != 1.0 else leaf)

    def lexicon(self, fieldname: str) -> Lexicon:
        """(segment reader, term, its term information) for every term of `fieldname` in every
        segment of this scorer's searcher, in one pass over each segment's terms."""
        return [(reader, text, info) for reader, _base in self._searcher.reader().leaf_readers()
                for text, info in reader.iter_field(fieldname)]

    def hold(self, fieldname: str, lexicon: Lexicon | None = None) -> int:
        """Decode the postings of `fieldname`'s terms into the held postings, the terms of most
        documents first, until they hold CACHED_POSTINGS (a term already held is skipped); the
        postings now held. What a warm server does before its searches (`Engine.warm`): a
        term's first search otherwise decodes them (~80 us a term at 2,000 articles).

        The lexicon (`lexicon(fieldname)`, or the one given) is read in one pass, and each
        term's postings and document count come from the term information that pass read, not
        from a lookup per term; the scores are computed per segment at once, with the
        weighting's own idf of those counts."""
        if not self._serving() or fieldname not in self._searcher.schema:
            return self.held.postings
        import numpy as np

        field, top = self._searcher.schema[fieldname], self._searcher
        terms = []
        counts: dict[bytes, int] = {}  # each term's documents over all segments, as whoosh sums them
        for reader, text, info in self.lexicon(fieldname) if lexicon is None else lexicon:
            documents = info.doc_frequency()
            terms.append((documents, text, info, reader))
            counts[text] = counts.get(text, 0) + documents
        terms.sort(key=lambda entry: -entry[0])  # stable: equal counts in the lexicon's order
        room = CACHED_POSTINGS - self.held.postings
        # By segment reader: each held term's key, text, document numbers and weights.
        chosen: dict[Any, list[tuple[tuple[object, str, object], bytes, np.ndarray, np.ndarray]]] = {}
        for documents, text, info, reader in terms:
            if documents > room:
                break
            key = (_segment_key(reader), fieldname, field.from_bytes(text))
            if self.held.get(key) is not None:
                continue
            postings = self._postings_of(fieldname, text, info, reader)
            if postings is not None:
                chosen.setdefault(reader, []).append((key, text, *postings))
                room -= documents
        counted = _Counted(top.get_parent().doc_count_all(), counts)
        for reader, segment_terms in chosen.items():
            # One segment's terms scored at once (the same bits as one by one: see `_bm25`).
            sizes = [len(ids) for _key, _text, ids, _weights in segment_terms]
            idfs = np.repeat([top.weighting.idf(counted, fieldname, text) for _key, text, _i, _w in segment_terms], sizes)
            every_id = np.concatenate([ids for _key, _text, ids, _weights in segment_terms])
            every_weight = np.concatenate([weights for _key, _text, _ids, weights in segment_terms])
            scores = self._bm25(reader, fieldname, every_id, every_weight, idfs)
            for (key, _text, ids, _weights), leaf in zip(segment_terms, np.split(scores, np.cumsum(sizes)[:-1]), strict=True):
                self.held.put(key, (ids, leaf.copy()))
        return self.held.postings

    def _postings_of(self, fieldname: str, text: bytes, info, reader) -> tuple[np.ndarray, np.ndarray] | None:
        """`_undeleted_postings` of a term whose term information `info` the caller read from
        `reader`'s lexicon: its postings are read from that, not looked up again."""
        if not isinstance(reader, SegmentReader):
            return self._undeleted_postings(fieldname, text, reader)
        try:
            terms = reader._terms
            matcher = terms._codec.postings_reader(terms._postfile, info, reader.schema[fieldname].format)
        except AttributeError:  # whoosh's terms reader is laid out otherwise: look the term up
            return self._undeleted_postings(fieldname, text, reader)
        return _undeleted(*_postings(matcher), self._deleted(reader))

    def _leaf_scores(self, fieldname: str, text: bytes, reader) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's undeleted document numbers in one segment and their unboosted BM25F scores."""
        found = self._undeleted_postings(fieldname, text, reader)
        if found is None:
            return None
        ids, weights = found
        return ids, self._bm25(reader, fieldname, ids, weights, self._searcher.idf(fieldname, text))

    def _bm25(self, reader, fieldname: str, ids: np.ndarray, weights: np.ndarray, idf: float | np.ndarray) -> np.ndarray:
        """The unboosted BM25F scores of postings of one segment (`idf`: the term's, or each
        posting's term's): whoosh.scoring.bm25 in its order of operations, element by element,
        so scoring many terms' postings at once gives each the bits it gets alone."""
        avgfl = self._searcher.avg_field_length(fieldname) or 1
        lengths = self._field_lengths(reader, fieldname)[ids]
        b, k1 = self._b, self._k1
        return idf * ((weights * (k1 + 1)) / (weights + k1 * ((1 - b) + b * lengths / avgfl)))

    def _undeleted_postings(self, fieldname: str, text: bytes, reader) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's undeleted document numbers in one segment and their weights (None: the
        segment does not hold the term)."""
        import numpy as np

        deleted = self._deleted(reader)
        try:  # one lookup of the term, not `in` and then `postings`
            if deleted is not None and isinstance(reader, SegmentReader):
                # The segment's matcher itself: `postings` would wrap it in a FilterMatcher, which
                # decodes its first block whole (positions too) to step over deleted documents,
                # and they are left out below.
                matcher = reader._terms.matcher(fieldname, text, reader.schema[fieldname].format)
            else:
                matcher = reader.postings(fieldname, text)
        except TermNotFound:
            return None
        if isinstance(matcher, FilterMatcher):  # deletions of another kind of reader
            deleted = np.fromiter(reader.deleted_docs_set, dtype=np.int64)
            matcher = matcher.child
        return _undeleted(*_postings(matcher), deleted)

    def _deleted(self, reader) -> np.ndarray | None:
        """A segment's deleted document numbers (None: it has none), read once."""
        import numpy as np

        key = id(reader)
        if key not in self._deletions:
            self._deletions[key] = (np.fromiter(reader.deleted_docs_set, dtype=np.int64)
                                    if reader.has_deletions() else None)
        return self._deletions[key]

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


class HeldPostings:
    """Decoded postings of one keyword index (whose segments never change): for each (segment,
    field, term), its undeleted document numbers and unboosted BM25F leaf scores, read-only
    arrays. Least recently used out first once they pass CACHED_POSTINGS postings.

    Shared by the scorers of every thread searching that index (each thread reads whoosh's files
    through its own searcher; what it decodes serves them all). Safe to share between threads:
    lookups and changes are made under one lock; a term two threads decode at once is decoded
    twice, to equal arrays, and kept once.
    """

    def __init__(self) -> None:
        self._terms: OrderedDict[tuple[object, str, object], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()
        self.postings = 0  # postings held now

    def __len__(self) -> int:
        return len(self._terms)

    def get(self, key: tuple[object, str, object]) -> tuple[np.ndarray, np.ndarray] | None:
        """A term's (document numbers, leaf scores), or None when not held."""
        with self._lock:
            found = self._terms.get(key)
            if found is not None:
                self._terms.move_to_end(key)
            return found

    def put(self, key: tuple[object, str, object], found: tuple[np.ndarray, np.ndarray]) -> None:
        """Hold a term's (document numbers, leaf scores), which are never to be changed."""
        for array in found:  # handed out as they are (a lone term's matches)
            array.flags.writeable = False
        with self._lock:
            if key in self._terms:
                return
            self._terms[key] = found
            self.postings += len(found[0])
            while self.postings > CACHED_POSTINGS and len(self._terms) > 1:
                _key, (ids, _leaf) = self._terms.popitem(last=False)
                self.postings -= len(ids)


def _undeleted(ids: np.ndarray, weights: np.ndarray, deleted: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A term's postings in one segment less those of its `deleted` document numbers."""
    if deleted is None or not len(deleted):
        return ids, weights
    import numpy as np

    keep = ~np.isin(ids, deleted)
    return ids[keep], weights[keep]


def _segment_key(reader) -> object:
    """What names a segment reader's segment alike in every thread's searcher (its id in the
    index), else the reader itself."""
    segment = reader.segment()
    return id(reader) if segment is None else segment.segment_id()


class _Counted:
    """What a weighting's `idf(searcher, field, text)` reads of a searcher (its top reader's
    document count and a term's document frequency), from counts the caller read already."""

    def __init__(self, documents: int, frequencies: dict[bytes, int]) -> None:
        self._documents, self._frequencies = documents, frequencies

    def get_parent(self) -> _Counted:
        return self

    def doc_count_all(self) -> int:
        return self._documents

    def doc_frequency(self, _fieldname: str, text: bytes) -> int:
        return self._frequencies[text]


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

    if not isinstance(matcher, W3LeafMatcher):  # e.g. a term with one posting, stored inline
        found_ids, found_weights = [], []
        while matcher.is_active():
            found_ids.append(matcher.id())
            found_weights.append(matcher.weight())
            matcher.next()
        return np.asarray(found_ids, dtype=np.int64), np.asarray(found_weights, dtype=np.float64)
    # Every block's values in one list each, made arrays once: a common word has dozens of blocks.
    ids: list = []
    weights: list = []
    starts: list[int] = []
    while matcher.is_active():
        block = None if matcher._byteids else _ids_and_weights(matcher)
        if block is None:  # not laid out as _ids_and_weights expects: whoosh decodes it all
            matcher._read_data()  # the block's (ids, weights, values), as whoosh stores it
            block = matcher._data[0], matcher._data[1]
        block_ids, block_weights = block
        starts.append(len(ids))
        ids.extend(block_ids)
        if block_weights is None or isinstance(block_weights, float):  # all 1.0, or all the same
            # float32 as whoosh keeps them, widened as Python widens each one it reads.
            weights.extend([float(np.float32(1.0 if block_weights is None else block_weights))] * len(block_ids))
        else:
            weights.extend(block_weights)
        matcher._next_block()
    found = np.asarray(ids, dtype=np.int64)
    if not matcher._byteids and len(found):
        # whoosh stores ids as deltas from the block's first (W3LeafMatcher._read_ids): the running
        # sum over all blocks, less the sum of the blocks before each.
        found = np.cumsum(found)
        if len(starts) > 1:
            ends = np.asarray(starts[1:], dtype=np.int64) - 1
            found -= np.repeat(np.concatenate(([0], found[ends])), np.diff(starts + [len(ids)]))
    return found, np.asarray(weights, dtype=np.float64)


# A whoosh 3 postings block is the pickle (protocol 2, zlib-compressed) of the tuple (ids,
# weights, values): the id deltas, then the weights (None: all 1.0; one float: all the same), then
# each posting's value, its positions. In protocol 2 a bytes value is pickled as a call of
# _codecs.encode, which the pickle names where the first value begins (a tuple of more than
# three opens with a MARK just before).
_VALUES = b"c_codecs\nencode\n"
_MARK, _TUPLE2, _STOP = b"(", b"\x86", b"."
# The most bytes a posting's id delta and weight take in that pickle (a 4-byte int, or a 5-byte
# long for a delta of 2**31 and more, with its opcode; an 8-byte float with its opcode), and
# room for the pickle's other opcodes: inflating this much of a block is sure to reach its values.
_ID_AND_WEIGHT = 16
_HEAD = 64


def _ids_and_weights(matcher) -> tuple[tuple[int, ...], tuple[float, ...] | float | None] | None:
    """The current block's id deltas and weights, exactly as whoosh's `_read_data` unpickles
    them, without inflating and unpickling the rest of the block; None where the block is not
    laid out so (whoosh's `_read_data` then reads it).

    The positions, which BM25F never reads, are most of a block, and unpickling them (one
    `_codecs.encode` call per posting) is most of what decoding a block costs: at 10,000 Reuters
    articles a full block took ~60 us to inflate and unpickle, its ids and weights take ~13, and
    a common word's postings are read ~2.5x faster. Only the start of the block is inflated, and
    the pickle is cut where the values begin and closed as the tuple (ids, weights); a cut
    anywhere else fails to unpickle or gives something the checks below refuse.
    """
    count = matcher._blocklength
    data = matcher._postfile.get(matcher._dataoffset, matcher._nextoffset - matcher._dataoffset)
    if matcher._compression:
        try:
            data = zlib.decompressobj().decompress(data, count * _ID_AND_WEIGHT + _HEAD)
        except zlib.error:
            return None
    at = data.find(_VALUES)
    if count > 3:
        at -= 1
        if at < 0 or data[at : at + 1] != _MARK:
            return None
    if at < 0:
        return None
    try:
        ids, weights = pickle.loads(data[:at] + _TUPLE2 + _STOP)
    except Exception:  # noqa: BLE001  (any malformed cut: whoosh reads the block instead)
        return None
    if type(ids) is not tuple or len(ids) != count or (count and type(ids[0]) is not int):
        return None
    if weights is not None and type(weights) is not float and (type(weights) is not tuple or len(weights) != count):
        return None
    return ids, weights
