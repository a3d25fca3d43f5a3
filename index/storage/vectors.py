"""The semantic leg's storage: passage vectors in faiss, behind a small store interface.

Vectors are unit length, so inner product is cosine similarity. Each vector carries its
passage's id (faiss IndexIDMap2), so an update can remove and add passages without renumbering
the rest. The exact index (IndexFlatIP, `vectors.faiss`) is always kept: it is the store of record
and answers in milliseconds up to HNSW_THRESHOLD vectors.

Beyond that, searches go to an approximate HNSW graph (`vectors.hnsw`, an IndexIDMap over
IndexHNSWSQ keeping the vectors as float16, which nearly halves a reader's memory) built from
the exact index's vectors; see docs/performance.md for the threshold, recall and costs. Readers
use the graph when the file has one, else the exact index.

Searches of an exact index past SCAN_MIN_FLOATS numbers scan a compressed copy of its vectors,
made in memory when the store has served a few searches, and re-score the candidates exactly:
the same results as IndexFlatIP's own search, bit for bit, from a half or a quarter of the bytes
(`CompressedScan`).

A generation's vectors are segments (index/storage/segments.py): the base `vectors.faiss` and
newer `vectors-NNNNNN.faiss` files, each with the passage ids it removes from the older ones
(`vectors-NNNNNN.removed.npy`). `SegmentedVectorStore` searches every segment, leaving out the
removed ids inside faiss's search (an IDSelector, which HNSW honours too), and merges the hits.
`SegmentVectorWriter` writes an update's segment: its own vectors and removals, with the small
newer segments folded in by the size tiers. A graph belongs to one segment file and is never
changed: a fold that takes in a segment with a graph grows a copy of it when none of its
vectors were removed, else builds one from the folded vectors; a segment under HNSW_THRESHOLD
has none.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.errors import IndexCorrupted, IndexIncompatible
from index.storage.faults import open_flat_vectors_problem
from index.storage.layout import removed_file, vectors_file
from index.storage.segments import VectorSegment, fold_from, removed_counts, with_dead

HNSW_SUFFIX = ".hnsw"
# From this many vectors on, searches use HNSW. Measured on 2 cores (docs/performance.md, section
# 4 and section 13's fourth round): exact search costs ~0.08 ms per 1,000 MiniLM vectors (4.0 ms at
# 50,001, 0.9 at 12,682, 400 results; the compressed scan 3.2 and 1.0) and the graph 0.8 and 0.6
# ms at efSearch 400, with recall@10 0.9995 at both sizes; searching every dev collection's
# vectors through a graph left hybrid nDCG@10 unchanged on TIME dev, CISI and Cranfield (semantic
# +0.0054, 0, -0.00001). A graph costs ~0.16 CPU-s per 1,000 vectors to build (7.8 s at 50,001, 3%
# of embedding them) and ~1 KB a vector of memory; from 20,000 (about 3,500 news articles) the
# searches it saves pay for that.
HNSW_THRESHOLD = 20_000
HNSW_M = 32  # graph neighbours per vector
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # candidates explored per search; never fewer than the results asked for
# How the graph stores its vectors: "flat" (float32), "fp16" or "sq8". fp16 by measurement on the
# 99k real passage vectors of 20k Reuters articles, 200 real queries, efSearch 400 (docs/performance.md):
# recall@10 vs exact 0.9875 (float32 0.9865, sq8 0.9785), 1,048 bytes/vector (float32 1,816), same speed.
HNSW_STORAGE = "fp16"
# A warm store whose searches go through an HNSW graph reads the exact index beside it through
# once, when it is at most this large, so that the page cache holds it: the engine's completion
# reads the exact vectors of its keyword-only candidates through a memory map (`vectors`), and a
# fresh process otherwise faulted them in from disk as its searches met them. At 10,000 articles
# with the page cache emptied: 28.6 major faults a search and hybrid p50 CPU 4.24-4.39 ms over a
# first pass of 180 queries, against 0.02 and 3.08-3.14 ms with the 77 MB file read at warm-up
# (0.06-0.08 s); the kernel's read-ahead hint alone (POSIX_FADV_WILLNEED) left 25.7 faults a
# search (docs/performance.md, eleventh round). A larger file is left to the faults: the page
# cache may not hold it (at 100,000 articles it is 766 MB).
WARM_READ_BYTES = 1 << 30

# faiss and numpy cost a tenth of a second to import; a keyword search never needs them.
if TYPE_CHECKING:
    import faiss
    import numpy as np


class VectorStore(Protocol):
    """What the ranker needs from a vector index; a server-backed store can stand in."""

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Passage ids with their cosine similarity to `vector`, most similar first, among `allowed`."""
        ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids."""
        ...

    def hold(self) -> None:
        """Read now what searches would otherwise read from disk a page at a time (a store that
        has nothing so read does nothing); see `Engine.warm`."""
        ...

    def __len__(self) -> int: ...

    def close(self) -> None:
        """Release files or connections."""
        ...


def _read(path: Path) -> faiss.IndexIDMap2:
    import faiss

    if not path.exists():  # faiss reports a missing file as a bare RuntimeError
        raise FileNotFoundError(errno.ENOENT, "no vector index", str(path))
    return faiss.read_index(str(path))


def inner_products(rows: np.ndarray, query: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
    """The inner product with `query` (shape (d,) or (1, d)) of each of `rows` (shape (n, d)), or
    of the rows at `positions` when given, float32, computed as faiss's exact search computes a
    vector's score (its own kernel, on this thread): over an exact index, the same bits the
    semantic leg gives the same passage (an HNSW graph's leg scores its float16 copies instead).
    numpy's product sums in another order, and OpenBLAS's threads in an order that varies from
    run to run (the last bits of a completed candidate's cosine differed between two processes
    for 27 of 3,000 hits)."""
    import faiss
    import numpy as np

    rows = np.ascontiguousarray(rows, dtype=np.float32)
    query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
    positions = np.arange(len(rows), dtype=np.int64) if positions is None else np.ascontiguousarray(positions, dtype=np.int64)
    scores = np.empty(len(positions), np.float32)
    if len(positions):
        faiss.fvec_inner_products_by_idx(
            faiss.swig_ptr(scores), faiss.swig_ptr(query), faiss.swig_ptr(rows), faiss.swig_ptr(positions),
            rows.shape[1], 1, len(positions))
    return scores


def hnsw_path(vectors_path: Path) -> Path:
    """Where the HNSW graph of the exact index at `vectors_path` lives (if it has one)."""
    return vectors_path.with_suffix(HNSW_SUFFIX)


def _is_hnsw(index) -> bool:
    import faiss

    inner = faiss.downcast_index(index.index) if hasattr(index, "id_map") else index
    return isinstance(inner, faiss.IndexHNSW)


class FaissVectorStore:
    """A vector store over one faiss index file.

    Searches of a large enough exact index scan a compressed copy of its vectors, made in memory
    on the store's SCAN_AFTER_SEARCHES-th search (`CompressedScan`: the same results, bit for
    bit, from a half or a quarter of the bytes; `scan_state` says whether it is in use), except
    an unfiltered search for more than SCAN_MAX_SHARE of them, which faiss's own scan answers
    faster. The index must not change once the store has searched it (stores only read).

    Safe to share between threads: faiss searches of an unchanging index run concurrently; the
    copy is made once, under a lock, and never changes; the counts that decide when to make it or
    drop it only steer speed (an update lost to a race makes it one search later, and a search
    still holding a dropped copy finishes with it).
    """

    def __init__(self, path: Path) -> None:
        self.path: Path | None = path
        self._index = _read(path)
        self._start_counts()

    @classmethod
    def from_index(cls, index: faiss.Index) -> FaissVectorStore:
        """A store over an index already in memory (which must not change once searched)."""
        store = cls.__new__(cls)
        store.path = None
        store._index = index
        store._start_counts()
        return store

    def _start_counts(self) -> None:
        self._searches = 0
        self._scan: CompressedScan | None = None
        self._scan_state = "not yet"  # "not yet", "built", or why there is none: "too small", "ties", "graph"
        self._scan_tries = 0
        self._scan_fallbacks = 0
        self._building = threading.Lock()

    @property
    def dim(self) -> int:
        """Dimensions of the stored vectors."""
        return self._index.d

    def __len__(self) -> int:
        return self._index.ntotal

    def ids(self) -> set[int]:
        """Every stored passage id (for consistency checks)."""
        import faiss

        return set(faiss.vector_to_array(self._index.id_map).tolist())

    @property
    def scan_state(self) -> str:
        """Whether searches scan the compressed copy: "built"; "not yet" (built after
        SCAN_AFTER_SEARCHES searches); or why not: "too small" (under SCAN_MIN_FLOATS), "graph"
        (an HNSW graph is searched instead), "ties" (too many searches fell back, see
        `CompressedScan.search`)."""
        return self._scan_state

    def search(
        self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None, excluded: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """The `limit` passage ids nearest to `vector` by cosine similarity, among `allowed` ids
        when given, else among all but `excluded` (the filter applies inside the search, so
        `limit` hits come back if they exist)."""
        import numpy as np

        limit = min(limit, self._index.ntotal if allowed is None else len(allowed))
        if limit <= 0:
            return []
        use_one_faiss_thread()
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scan = self._compressed()
        # The copy's cost grows with the candidates it re-scores and sorts, faiss's scan's hardly
        # with the results: past SCAN_MAX_SHARE of the vectors (a second, deeper fetch) faiss's
        # own scan is the cheaper one.
        if scan is not None and (allowed is not None or limit <= self._index.ntotal * SCAN_MAX_SHARE):
            found = scan.search(query, limit, allowed, excluded)
            self._scan_tries += 1
            if found is not None:
                return found
            self._scan_fallbacks += 1
            if self._scan_tries >= SCAN_JUDGED_AFTER and self._scan_fallbacks > self._scan_tries * SCAN_MAX_FALLBACKS:
                self._scan, self._scan_state = None, "ties"  # a search holding it keeps it alive
        return self._faiss_search(query, limit, allowed, excluded)

    def _faiss_search(
        self, query: np.ndarray, limit: int, allowed: Sequence[int] | None, excluded: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """faiss's own search of the index: the plain scan (or the graph), `limit` already capped."""
        import faiss
        import numpy as np

        selector = None if allowed is None else faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        if selector is None and excluded is not None and len(excluded):
            batch = faiss.IDSelectorBatch(np.asarray(excluded, dtype=np.int64))
            selector = faiss.IDSelectorNot(batch)
            selector.referenced = batch  # the Python object must outlive the C++ one that points to it
        if _is_hnsw(self._index):
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, limit), sel=selector)
        else:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
        scores, ids = self._index.search(query, limit, params=params)
        found = ids[0] >= 0
        return list(zip(ids[0][found].tolist(), scores[0][found].tolist()))

    def _compressed(self) -> CompressedScan | None:
        """The compressed copy, built on the SCAN_AFTER_SEARCHES-th search; None while there is none."""
        scan = self._scan
        if scan is not None or self._scan_state != "not yet":
            return scan
        self._searches += 1
        if self._searches < SCAN_AFTER_SEARCHES:
            return None
        with self._building:
            if self._scan_state == "not yet":
                if _is_hnsw(self._index):
                    self._scan_state = "graph"
                elif self._index.ntotal * self._index.d < SCAN_MIN_FLOATS:
                    self._scan_state = "too small"
                else:
                    self._scan = CompressedScan(self._index)
                    self._scan_state = "built"
        return self._scan

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids."""
        import numpy as np

        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        # One call for all of them: faiss's reconstruct one id at a time cost ~2 us each through
        # its Python binding (0.34 ms for a page's 150 passages, against 0.01 ms in a batch).
        return self._index.reconstruct_batch(np.asarray(ids, dtype=np.int64))

    def hold(self) -> None:
        """Nothing: its vectors are in memory."""


# The compressed copy (CompressedScan), settled on 2 cores by benchmarks/query_speed/bench_scan.py
# (real MiniLM passage vectors, 200 real queries, 400 results, CPU against faiss's plain scan):
#   vectors      12,682  30,000  56,290  99,000
#   bf16 codes    0.89x   0.79x   0.63x   0.57x   (2 bytes a number: half the exact index)
#   fp16          0.92x   0.79x   0.66x   0.59x
#   sq8           1.09x   0.81x   0.54x   0.54x   (1 byte a number, a range per dimension)
#   sq8u          1.00x   0.74x   0.57x   0.49x   (1 byte, one range for all dimensions)
# and in Engine.search (semantic, 300 queries, 56,290 vectors, in turns with the plain scan) bf16
# 0.71x, sq8 0.71x of the whole search's CPU. The copy pays once the plain scan leaves the
# caches; with fewer than SCAN_MIN_FLOATS numbers (vectors x dimensions: 9,100 of 384, 27,000 of
# 128, 55,000 of 64; synthetic vectors) it does not. Small copies use bf16 (the fastest there),
# large ones sq8 (as fast, in half the memory), from SCAN_SQ8_FROM numbers (31,000 vectors of
# 384, where the two cross). Since segments of HNSW_THRESHOLD vectors get a graph, the copy serves
# segments of 9,100 to 20,000 MiniLM vectors, and larger flat segments of indexes written before.
SCAN_MIN_FLOATS = 3_500_000
SCAN_SQ8_FROM = 12_000_000
# The copy is made on a store's SCAN_AFTER_SEARCHES-th search (its CPU is some tens of plain
# scans: 32 ms at 12,682 vectors, 280 ms at 99,000), so a one-shot `accord search` never makes
# it and a server makes it once.
SCAN_AFTER_SEARCHES = 16
# Candidates fetched beyond the results asked, as a share of them, by code: what each code's error
# bound needed at 400 results on real MiniLM and synthetic vectors (at most 1.09x the results for
# fp16, 1.2x for bf16, 1.8x for sq8, 2.1x for sq8u), so that a second fetch stays rare.
_SCAN_EXTRA = {"bf16": 0.25, "fp16": 0.12, "sq8": 0.9, "sq8u": 1.2}
# Ties at the k-th score can send a search back to faiss's own scan (see CompressedScan); a store
# whose searches often do (bag-of-words vectors with few distinct scores) frees its copy when, after
# at least SCAN_JUDGED_AFTER searches over it, more than SCAN_MAX_FALLBACKS of them fell back.
SCAN_MAX_FALLBACKS = 0.25
# An unfiltered search for more than this share of a store's vectors skips the copy for faiss's
# own scan. At 12,682 real passage vectors, 200 queries, one thread, the copy's CPU against
# faiss's scan in turns (benchmarks/query_speed/bench_scan.py --limits): 0.86x at 100 results,
# 1.08x at 400, 1.48x at 1,000, 1.66x at 1,600. 1/24 keeps a first fetch of 400 passages on the
# copy there (a tie in a whole search: hybrid p50 0.99x, mean 1.01x with the copy against
# without) and sends the second fetch (1,600, when 400 passages name fewer than 100 articles) to
# faiss: semantic searches' mean CPU 0.99x at 2,000 articles (benchmarks/query_speed/
# bench_in_turns.py, deep-fetch-faiss).
SCAN_MAX_SHARE = 1 / 24
SCAN_JUDGED_AFTER = 64
_UNIT_ROUNDOFF = 2.0**-24  # float32


def scan_code(vectors: int, dim: int) -> str:
    """The code a copy of this many vectors uses: "bf16" (bfloat16), or "sq8" (8 bits a number
    in each dimension's range) from SCAN_SQ8_FROM numbers on. CompressedScan also takes "fp16"
    and "sq8u" (8 bits in one range for all dimensions), for measurements."""
    return "sq8" if vectors * dim >= SCAN_SQ8_FROM else "bf16"


def _scan_codes() -> dict:
    import faiss

    quantizer = faiss.ScalarQuantizer
    return {"bf16": quantizer.QT_bf16, "fp16": quantizer.QT_fp16, "sq8": quantizer.QT_8bit, "sq8u": quantizer.QT_8bit_uniform}


class CompressedScan:
    """An exact search of an IndexIDMap2(IndexFlatIP) that scans a compressed copy of its vectors
    (faiss IndexScalarQuantizer; bfloat16 or 8-bit codes by size, see `scan_code`) and
    re-scores the candidates exactly: the same ids, the same float scores and the same order as
    the flat index's own search returns, bit for bit.

    Why that is exact: making the copy measures the largest coding error of each dimension, err_i,
    and of each vector, so a vector's score over the copy is off from its exact score by at most
    min(sum_i |q_i| err_i, |q| max|x - x'|) plus the float32 rounding of two sums of d products
    (`bound`). A search fetches the best candidates by their scores over the copy, and takes them
    once the last one's score plus that bound lies under the k-th best exact score among them:
    no vector outside can then reach that score, nor tie it. (Else it fetches twice as many,
    and past a quarter of the vectors leaves it to faiss.) The candidates are scored with the
    kernel IndexFlatIP's search uses (faiss's fvec_inner_products_by_idx calls the same
    fvec_inner_product; numpy's dot sums in another order and can differ in the last bits) and
    put in the order faiss's result handlers leave: best score first, equal scores by position in
    the index, the later position first.

    Which of several vectors tied at the k-th score faiss keeps depends on the order it met them
    in: its heap (k under faiss's distance_compute_min_k_reservoir, 100) keeps the last of those
    it let in, worked out here in `_heap_keeps`; its reservoir (k from there on) depends on how it
    partitioned on the way, so `search` answers None then and the caller runs faiss's own scan.
    Real text vectors rarely tie there (2% of 500 queries at 400 results with MiniLM, duplicate
    passages); bag-of-words vectors often do.

    Immutable once made: safe to share between threads (faiss searches of an unchanging index run
    concurrently). It reads the flat index's vectors in place, so the index must not change.
    """

    def __init__(self, index: faiss.IndexIDMap2, code: str | None = None) -> None:
        import faiss
        import numpy as np

        flat = faiss.downcast_index(index.index)
        n, d = flat.ntotal, flat.d
        self._flat = flat  # keeps the vectors that self._base points into alive
        self._base = faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d) if n else np.zeros((0, d), np.float32)
        self._d = d
        self._ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        # Passage ids are added in increasing order, so their positions are found without a sorted copy.
        ascending = bool(np.all(self._ids[1:] > self._ids[:-1]))
        self._order = None if ascending else np.argsort(self._ids, kind="stable")
        self._sorted_ids = self._ids if self._order is None else self._ids[self._order]
        self.code = code or scan_code(n, d)
        self._codes = faiss.IndexScalarQuantizer(d, _scan_codes()[self.code], faiss.METRIC_INNER_PRODUCT)
        if n and not self._codes.is_trained:
            self._codes.train(self._base)  # 8-bit codes learn each dimension's (or all's) range
        err = np.zeros(d, np.float32)
        absmax = np.zeros(d, np.float32)
        worst = 0.0
        size = self._codes.code_size
        self._codes.codes.resize(n * size)  # filled in place: no growing copies at the peak
        if n:
            stored = faiss.rev_swig_ptr(self._codes.codes.data(), n * size)
        for start in range(0, n, 4096):  # in blocks: the temporaries stay a few MB at any size
            rows = self._base[start:start + 4096]
            codes = self._codes.sa_encode(rows)
            stored[start * size:(start + len(rows)) * size] = codes.ravel()
            miss = np.abs(rows - self._codes.sa_decode(codes))
            err = np.maximum(err, miss.max(axis=0))
            absmax = np.maximum(absmax, np.abs(rows).max(axis=0))
            worst = max(worst, float(np.einsum("ij,ij->i", miss, miss).max()))
        self._codes.ntotal = n
        # In float32: a difference is off by at most a unit in its last place (none for the
        # 16-bit codes, which drop bits), a sum of d squares by d units; hence the margins.
        self._err = err.astype(np.float64) * (1 + 1e-6)
        self._worst = float(np.sqrt(worst)) * (1 + 2 * d * _UNIT_ROUNDOFF + 1e-6)
        self._absmax = absmax.astype(np.float64)
        self._reservoir_from = faiss.cvar.distance_compute_min_k_reservoir

    @property
    def nbytes(self) -> int:
        """Memory the copy holds beyond the exact index: its codes and the ids of its positions."""
        sorted_ids = 0 if self._order is None else self._order.nbytes + self._sorted_ids.nbytes
        return self._codes.ntotal * self._codes.code_size + self._ids.nbytes + sorted_ids

    def bound(self, query: np.ndarray) -> float:
        """The most a vector's exact score (as faiss computes it) can exceed its score over the
        copy (as faiss computes that) for `query` (shape (1, d), float32)."""
        import numpy as np

        weights = np.abs(query[0].astype(np.float64))
        coding = min(float(weights @ self._err), float(np.sqrt(weights @ weights)) * self._worst)
        # Each float32 sum of d products is off by at most d units in the last place of the sum
        # of their absolute values (whatever the order), the copy's decoding by a few more.
        rounding = 4 * (self._d + 2) * _UNIT_ROUNDOFF * float(weights @ (self._absmax + self._err))
        return coding * (1 + 1e-9) + rounding + 1e-12

    def members(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """A mask over the index positions: True where one of these passage ids is stored."""
        import numpy as np

        ids = np.asarray(ids, dtype=np.int64)
        member = np.zeros(len(self._ids), bool)
        if len(self._sorted_ids) and len(ids):
            at = np.minimum(np.searchsorted(self._sorted_ids, ids), len(self._sorted_ids) - 1)
            at = at[self._sorted_ids[at] == ids]
            member[at if self._order is None else self._order[at]] = True
        return member

    def search(
        self, query: np.ndarray, limit: int, allowed: Sequence[int] | None = None, excluded: np.ndarray | None = None
    ) -> list[tuple[int, float]] | None:
        """What the flat index's search(query, limit) returns with the store's selectors
        (`allowed` ids, else all but `excluded`), as (id, score) best first; None when only
        faiss's own scan can tell (see the class doc). `query`: shape (1, d), float32."""
        import faiss
        import numpy as np

        n = len(self._ids)
        member = None
        if allowed is not None:
            member = self.members(allowed)
        elif excluded is not None and len(excluded):
            member = ~self.members(excluded)
        count = n if member is None else int(np.count_nonzero(member))
        if count == 0:
            return []
        fetch = min(limit + int(limit * _SCAN_EXTRA[self.code]) + 16, count)
        if member is not None and count <= max(fetch, n // 4):
            return self._ranked(query, np.flatnonzero(member), limit)  # few enough to score them all exactly
        params = None
        if member is not None and count < n:
            bitmap = np.packbits(member, bitorder="little")  # referenced by the selector until the search ends
            params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap)))
        slack = self.bound(query)
        while True:
            approx, found = self._codes.search(query, fetch, params=params)
            candidates = found[0][found[0] >= 0]
            if len(candidates) < fetch or fetch >= count:
                return self._ranked(query, candidates, limit)  # every chosen vector is a candidate
            scores = self._exact(query, candidates)
            kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
            if float(approx[0][fetch - 1]) + slack < float(kth):
                return self._ranked(query, candidates, limit, scores, kth)
            fetch *= 2
            if fetch > count // 4:
                return None  # as costly as the plain scan by now

    def _exact(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact scores of the vectors at these positions, by the kernel IndexFlatIP searches with."""
        return inner_products(self._base, query, positions)

    def _ranked(
        self, query: np.ndarray, positions: np.ndarray, limit: int, scores: np.ndarray | None = None, kth=None
    ) -> list[tuple[int, float]] | None:
        """The `limit` best of these positions, which hold every vector that can reach the k-th
        best score (`kth` when known), in faiss's order (score, then position, both descending);
        None when ties at the k-th score leave the choice to faiss's reservoir."""
        import numpy as np

        if scores is None:
            scores = self._exact(query, positions)
        if len(positions) > limit:
            if kth is None:
                kth = np.partition(scores, len(scores) - limit)[len(scores) - limit]
            keep = scores >= kth
            if np.count_nonzero(keep) > limit:  # vectors tied at the k-th score straddle the cut
                if limit >= self._reservoir_from:
                    return None
                keep = self._heap_keeps(positions, scores, keep, kth, limit)
            positions, scores = positions[keep], scores[keep]
        order = np.lexsort((-positions, -scores))
        return list(zip(self._ids[positions[order]].tolist(), scores[order].tolist()))

    @staticmethod
    def _heap_keeps(positions: np.ndarray, scores: np.ndarray, at_least: np.ndarray, kth, limit: int) -> np.ndarray:
        """Which vectors faiss's heap of `limit` keeps when several tie at the k-th score `kth`.

        It meets the vectors by position. A tied vector gets in while the heap holds fewer than
        `limit` vectors scoring at least `kth` (its threshold is the limit-th best score met so
        far); a better vector arriving later pushes out the heap's worst, and among tied vectors
        that is the one of the lowest position. So the tied vectors that stay are the last ones
        of those that got in, as many as the places the better vectors leave.
        """
        import numpy as np

        better = scores > kth
        tied = np.flatnonzero(scores == kth)
        tied = tied[np.argsort(positions[tied], kind="stable")]
        ahead = np.sort(positions[at_least])
        took = tied[np.searchsorted(ahead, positions[tied]) < limit]  # met fewer than `limit` before it
        places = limit - int(np.count_nonzero(better))
        keep = better.copy()
        keep[took[len(took) - places:]] = True
        return keep


# float16 storage and summation order let a cosine stray a little past 1.
_COSINE_SLACK = 1.01


def _check_unit_norms(store: FaissVectorStore, path: Path) -> None:
    """Raise IndexCorrupted unless every stored vector is finite and of unit length (cheap: one
    pass over the vectors when they are loaded; 100k passages take a few tens of ms)."""
    import faiss
    import numpy as np

    index = store._index
    inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
    total = inner.ntotal
    for start in range(0, total, 65536):
        block = inner.reconstruct_n(start, min(65536, total - start))
        norms = np.linalg.norm(block, axis=1)
        # A text with nothing to embed may give a zero vector (never the packaged model): allowed.
        if not np.all(np.isfinite(norms)) or np.any((np.abs(norms - 1.0) > 1e-3) & (norms > 1e-6)):
            raise IndexCorrupted(
                f"{path} is damaged (stored vectors are not unit vectors); "
                "run 'accord index --check', then 'accord index --rebuild'"
            )


_thread_state = threading.local()


def use_one_faiss_thread() -> None:
    """Make faiss search on one OpenMP thread in the calling thread, once per thread.

    One query gains nothing from faiss's OpenMP threads, and their spin-waiting after each search
    steals the cores the query encoder needs next: measured at 99k vectors, encode 6.6 -> 3.6 ms
    and exact search 24 -> 11 ms. OpenMP keeps this setting per thread (a thread that did not set
    it searches with the default team, and sums in another order: scores then differ in the last
    bit from one thread to the next), so every thread that searches sets it the first time it
    does, and never sets it back: no toggling around a search, which raced between threads.
    Threads that only build (a watcher's updates) keep OpenMP's default.
    """
    if getattr(_thread_state, "one_faiss_thread", False):
        return
    import faiss

    faiss.omp_set_num_threads(1)
    _thread_state.one_faiss_thread = True


class LazyVectorStore:
    """A FaissVectorStore read on first use, so a keyword-only search never loads faiss.

    The file is opened at once: a missing file fails now, as an eager open would, and the open
    handle keeps this generation's vectors readable even if a later update removes the folder.
    `path` is the exact index; its HNSW graph is read instead when the generation has one.

    Safe to share between threads: the first use loads the index under a lock, and faiss
    searches of a loaded index may run concurrently.
    """

    def __init__(self, path: Path, dim: int) -> None:
        graph = hnsw_path(path)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "no vector index", str(path))
        self._exact_path = path
        self._path = graph if graph.exists() else path
        self._file = open(self._path, "rb")
        self._dim = dim
        self._loading = threading.Lock()

    @property
    def _store(self) -> FaissVectorStore:
        loaded = self.__dict__.get("_loaded")
        if loaded is None:
            with self._loading:
                loaded = self.__dict__.get("_loaded")
                if loaded is None:
                    loaded = self._load()
                    self.__dict__["_loaded"] = loaded
        return loaded

    def _load(self) -> FaissVectorStore:
        import faiss

        if self._path == self._exact_path:
            # faiss trusts the counts in the file: damaged ones make it abort the whole process
            # (no except catches that), so the headers are read first; a few bytes, no faiss.
            problem = open_flat_vectors_problem(self._file)
            if problem is not None:
                self._file.close()
                raise IndexCorrupted(f"{self._path} is damaged ({problem}); 'accord index --rebuild' rebuilds the index")
        # Streamed from the open handle: reading the file into bytes first would hold the whole
        # index twice at the peak, which at 100k articles is most of the query process's memory.
        with self._file:
            store = FaissVectorStore.from_index(faiss.read_index(faiss.PyCallbackIOReader(self._file.read)))
        if store.dim != self._dim:
            raise IndexIncompatible(f"{self._path}: vectors have {store.dim} dimensions, the manifest says {self._dim}")
        store.path = self._path
        if not _is_hnsw(store._index):
            _check_unit_norms(store, self._path)
        return store

    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return len(self._store)

    def search(
        self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None, excluded: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        found = self._store.search(vector, limit, allowed, excluded)
        # Unit vectors give cosines in [-1, 1]; anything else is damage. The exact index's
        # vectors were checked when it was read (`_check_unit_norms`) and cannot change since;
        # an HNSW graph's float16 storage is not checked at load, so this is where its damage
        # shows. (Checking every search's 400-1,600 scores again: hybrid mean CPU 1.014x, p95
        # 1.066x, in turns at 2,000 articles.)
        if found and self._path != self._exact_path and not all(-_COSINE_SLACK <= score <= _COSINE_SLACK for _pid, score in found):
            raise IndexCorrupted(
                f"{self._path} is damaged (a similarity of {max(abs(s) for _p, s in found):.3g}); "
                "run 'accord index --check', then 'accord index --rebuild'"
            )
        return found

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        if self._path == self._exact_path:
            return self._store.vectors(ids)
        return self._exact_mapped.vectors(ids)

    def hold(self) -> None:
        """When searches go through an HNSW graph, read the exact index beside it through once
        (at most WARM_READ_BYTES), so that the page cache holds the vectors `vectors` reads
        through a memory map. An exact index is read whole by its first search anyway."""
        if self._path == self._exact_path:
            return
        try:
            with open(self._exact_path, "rb", buffering=0) as handle:
                if os.fstat(handle.fileno()).st_size > WARM_READ_BYTES:
                    return
                chunk = bytearray(1 << 22)
                while handle.readinto(chunk):
                    pass
        except FileNotFoundError:
            return  # gone with its generation: `vectors` says so if it is asked

    @property
    def _exact_mapped(self) -> FaissVectorStore:
        # An HNSW graph cannot give vectors back by id; the exact index beside it can. It is
        # memory-mapped, so only the pages of the vectors asked for are read: at 100k articles
        # reading it whole would add 766 MB to a process that holds the graph already.
        import faiss

        with self._loading:
            mapped = self.__dict__.get("_mapped")
            if mapped is None:
                if not self._exact_path.exists():
                    raise FileNotFoundError(errno.ENOENT, "no vector index", str(self._exact_path))
                mapped = FaissVectorStore.from_index(faiss.read_index(str(self._exact_path), faiss.IO_FLAG_MMAP_IFC))
                self.__dict__["_mapped"] = mapped
        return mapped

    def close(self) -> None:
        """Release the file if the vectors were never needed."""
        with self._loading:
            self._file.close()


class SegmentedVectorStore:
    """A generation's vector segments (`segments`, oldest first, in `folder`) searched as one
    store: each segment's hits less the ids newer segments removed, merged best first (ties by
    id). The files are opened at once, so the generation stays readable if its folder goes; the
    removed ids are read on the first search, so a keyword search never loads numpy or faiss.

    Safe to share between threads, as its segments' stores are.
    """

    def __init__(self, folder: Path, dim: int, segments: Sequence[VectorSegment]) -> None:
        self._entries = list(segments)
        self._parts: list[LazyVectorStore] = []
        self._removed_files = []
        try:
            for entry in self._entries:
                self._parts.append(LazyVectorStore(folder / vectors_file(entry.name), dim))
                removed = folder / removed_file(entry.name)
                if entry.name and removed.exists():
                    self._removed_files.append(open(removed, "rb"))
        except BaseException:
            self.close()
            raise
        self._firsts = [(entry.first, i) for i, entry in enumerate(self._entries) if entry.vectors]
        self._loading = threading.Lock()
        self._dead: list[np.ndarray] | None = None

    def _dead_ids(self) -> list[np.ndarray]:
        """Each segment's removed ids (those newer segments name that lie in its id range)."""
        import numpy as np

        dead = self._dead
        if dead is None:
            with self._loading:
                dead = self._dead
                if dead is None:
                    parts = [np.load(f, allow_pickle=False) for f in self._removed_files]
                    removed = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
                    owner = self._owners(removed)
                    dead = [removed[owner == i] for i in range(len(self._entries))]
                    self._dead = dead
        return dead

    def _owners(self, ids: np.ndarray) -> np.ndarray:
        """The segment holding each passage id, by the segments' id ranges (-1: none)."""
        import numpy as np

        if not self._firsts:
            return np.full(len(ids), -1)
        starts = np.array([first for first, _i in self._firsts], dtype=np.int64)
        index = np.array([i for _first, i in self._firsts])
        at = np.searchsorted(starts, ids, side="right") - 1
        return np.where(at >= 0, index[np.maximum(at, 0)], -1)

    @property
    def dim(self) -> int:
        return self._parts[0].dim

    def __len__(self) -> int:
        return sum(entry.live for entry in self._entries)

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The `limit` passage ids nearest to `vector` by cosine similarity, among `allowed`."""
        import numpy as np

        dead = self._dead_ids()
        if allowed is not None:
            wanted = np.asarray(allowed, dtype=np.int64)
            owner = self._owners(wanted)
        found: list[tuple[int, float]] = []
        for i, (entry, part) in enumerate(zip(self._entries, self._parts, strict=True)):
            if allowed is None:
                if entry.live > 0:
                    found += part.search(vector, min(limit, entry.live), None, dead[i])
                continue
            mine = wanted[owner == i]
            if len(dead[i]):
                mine = mine[~np.isin(mine, dead[i])]
            if len(mine):
                found += part.search(vector, limit, mine)
        found.sort(key=lambda hit: (-hit[1], hit[0]))
        return found[:limit]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids."""
        import numpy as np

        wanted = np.asarray(ids, dtype=np.int64)
        out = np.zeros((len(wanted), self.dim), np.float32)
        owner = self._owners(wanted)
        for i in set(owner.tolist()):
            rows = np.flatnonzero(owner == i)
            out[rows] = self._parts[i].vectors(wanted[rows].tolist())
        return out

    def hold(self) -> None:
        """Each segment's `LazyVectorStore.hold`."""
        for part in self._parts:
            part.hold()

    def close(self) -> None:
        """Release the files."""
        for part in self._parts:
            part.close()
        for handle in self._removed_files:
            handle.close()


def open_vectors(folder: Path, dim: int, segments: Sequence[VectorSegment] | None) -> VectorStore:
    """The vector store of a generation folder with these segments (None: written before
    segments, one base file)."""
    if segments is None or (len(segments) == 1 and not segments[0].name and not segments[0].dead):
        return LazyVectorStore(folder / vectors_file(""), dim)
    return SegmentedVectorStore(folder, dim, segments)


def _replace_with(path: Path, write) -> None:
    """Write a file through `write(temporary path)`, then rename it to `path`: a name the new
    generation hard-linked from the last one is replaced, never written through (that would
    change the last generation's file too)."""
    import os

    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    os.replace(temporary, path)


class SegmentVectorWriter:
    """A generation's vector writer: what it adds and removes, saved by `commit` as a new
    segment `name` in `folder` over the `older` segments (which it never changes).

    Added vectors go into the new segment (its passage ids start at `first`); removed ids of
    older segments become its tombstones. `commit` folds in the newest older segments as
    `fold_from` says (`always` marks those the run wrote, on its last batch) and leaves the
    store's segments, oldest first, in `segments`.
    """

    def __init__(
        self,
        dim: int,
        folder: Path,
        older: Sequence[VectorSegment],
        name: str,
        first: int,
        always: Sequence[bool] = (),
        hnsw_threshold: int | None = None,
    ) -> None:
        import faiss

        self._dim = dim
        self._folder = folder
        self._older = list(older)
        self._name = name
        self._first = first
        self._always = list(always) or [False] * len(older)
        self._hnsw_threshold = HNSW_THRESHOLD if hnsw_threshold is None else hnsw_threshold
        self._new = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._added: set[int] = set()
        self._removed: list[int] = []
        self.segments: list[VectorSegment] = list(older)

    def remove(self, ids: Sequence[int]) -> None:
        """Remove the vectors of these passage ids."""
        import numpy as np

        own = [int(i) for i in ids if int(i) in self._added]
        if own:
            self._new.remove_ids(np.asarray(own, dtype=np.int64))
            self._added -= set(own)
        self._removed += [int(i) for i in ids if int(i) not in own]

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under these passage ids."""
        import numpy as np

        if len(ids):
            self._new.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
            self._added.update(int(i) for i in ids)

    def commit(self) -> None:
        """Write the new segment (folding older ones in) and set `segments`."""
        import numpy as np

        older = list(with_dead(self._older, removed_counts(self._older, self._removed)))
        start = fold_from([s.vectors for s in older], [s.dead for s in older], self._always, self._new.ntotal)
        if start == len(older) and older and not self._new.ntotal and not self._removed:
            self.segments = older  # nothing written: no segment
            return
        folded = older[start:]
        removed = np.asarray(sorted(set(self._removed)), dtype=np.int64)
        for entry in folded:
            if entry.name and (self._folder / removed_file(entry.name)).exists():
                removed = np.union1d(removed, np.load(self._folder / removed_file(entry.name)))
        parts = [self._live(entry, removed) for entry in folded] + [self._new_part()]
        # What the folded segments removed from the segments before them stays removed.
        boundary = folded[0].first if folded else None
        carried = removed if boundary is None else removed[removed < boundary]
        name = "" if start == 0 else self._name
        graph = self._grown_graph(folded, parts) if folded else None
        for entry in folded:  # the links to the folded files go; their new home is written next
            for path in (self._folder / vectors_file(entry.name), hnsw_path(self._folder / vectors_file(entry.name)),
                         self._folder / removed_file(entry.name)):
                path.unlink(missing_ok=True)
        total = self._write(name, parts, carried, graph)
        first = 0 if start == 0 else (folded[0].first if folded else self._first)
        self.segments = [*older[:start], VectorSegment(name, first, total)]

    def _live(self, entry: VectorSegment, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of a folded segment less the removed ids."""
        import faiss
        import numpy as np

        index = _read(self._folder / vectors_file(entry.name))
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        vectors = index.index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, self._dim), np.float32)
        keep = ~np.isin(ids, removed)
        return ids[keep], vectors[keep]

    def _new_part(self) -> tuple[np.ndarray, np.ndarray]:
        import faiss
        import numpy as np

        ids = faiss.vector_to_array(self._new.id_map).astype(np.int64)
        vectors = self._new.index.reconstruct_n(0, self._new.ntotal) if self._new.ntotal else np.zeros((0, self._dim), np.float32)
        return ids, vectors

    def _grown_graph(self, folded: list[VectorSegment], parts: list[tuple[np.ndarray, np.ndarray]]):
        """The oldest folded segment's graph with the other parts' vectors added, when it has one
        and lost none of its vectors (HNSW cannot remove); else None (a new graph is built)."""
        graph_path = hnsw_path(self._folder / vectors_file(folded[0].name))
        total = sum(len(ids) for ids, _v in parts)
        if total < self._hnsw_threshold or not graph_path.exists() or len(parts[0][0]) != folded[0].vectors:
            return None
        graph = _read(graph_path)
        if graph.ntotal != folded[0].vectors:
            return None
        for ids, vectors in parts[1:]:
            if len(ids):
                graph.add_with_ids(vectors, ids)
        return graph

    def _write(self, name: str, parts: list[tuple[np.ndarray, np.ndarray]], removed: np.ndarray, graph) -> int:
        """Write segment `name`'s exact file, its graph when due and its removed ids; returns its vectors."""
        import faiss
        import numpy as np

        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self._dim))
        for ids, vectors in parts:
            if len(ids):
                index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids)
        del parts
        exact = self._folder / vectors_file(name)
        _replace_with(exact, lambda path: faiss.write_index(index, str(path)))
        if index.ntotal >= self._hnsw_threshold:
            if graph is None:
                graph = build_hnsw(index)
            _replace_with(hnsw_path(exact), lambda path: faiss.write_index(graph, str(path)))
        if name and len(removed):
            with open(self._folder / removed_file(name), "wb") as handle:
                np.save(handle, removed.astype(np.int64), allow_pickle=False)
        return index.ntotal


def build_hnsw(index: faiss.IndexIDMap2, storage: str = HNSW_STORAGE):
    """An HNSW graph (IndexIDMap over IndexHNSWFlat or IndexHNSWSQ, inner product) of the vectors
    of the exact `index`, which the graph keeps as `storage`: "flat" (float32), "fp16" or "sq8"."""
    import faiss

    n = index.ntotal
    vectors = index.index.reconstruct_n(0, n) if n else None
    if storage == "flat":
        graph = faiss.IndexHNSWFlat(index.d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    else:
        kind = {"fp16": faiss.ScalarQuantizer.QT_fp16, "sq8": faiss.ScalarQuantizer.QT_8bit}[storage]
        graph = faiss.IndexHNSWSQ(index.d, kind, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        if not graph.is_trained and vectors is not None:
            graph.train(vectors)  # sq8 learns each dimension's range
    graph.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    graph.hnsw.efSearch = HNSW_EF_SEARCH
    mapped = faiss.IndexIDMap(graph)
    if n:
        ids = faiss.vector_to_array(index.id_map).astype("int64")
        mapped.add_with_ids(vectors, ids)
    return mapped


class VectorWriter:
    """Removes and adds passage vectors of one whole exact index, then saves it (and its HNSW
    graph if due): a single-file store, as tools and tests use; a generation's vectors are
    written by `SegmentVectorWriter`."""

    def __init__(self, dim: int, existing: Path | None = None, hnsw_threshold: int | None = None) -> None:
        import faiss

        if existing is not None and existing.exists():
            self._index = _read(existing)
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._hnsw_threshold = HNSW_THRESHOLD if hnsw_threshold is None else hnsw_threshold
        self._removed = False
        self._added: list[tuple[np.ndarray, np.ndarray]] = []  # (ids, vectors) since loading

    def remove(self, ids: Sequence[int]) -> None:
        """Remove the vectors of these passage ids."""
        import numpy as np

        if len(ids):
            self._removed |= self._index.remove_ids(np.asarray(ids, dtype=np.int64)) > 0

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under these passage ids."""
        import numpy as np

        if len(ids):
            pair = (np.asarray(ids, dtype=np.int64), np.ascontiguousarray(vectors, dtype=np.float32))
            self._index.add_with_ids(pair[1], pair[0])
            self._added.append(pair)

    def save(self, path: Path) -> None:
        """Write the exact index to `path`, and the HNSW graph beside it when it is due."""
        import faiss

        faiss.write_index(self._index, str(path))
        graph_path = hnsw_path(path)
        if self._index.ntotal < self._hnsw_threshold:
            graph_path.unlink(missing_ok=True)  # e.g. copied from a larger previous generation
            return
        graph = self._grown_graph(graph_path) if graph_path.exists() and not self._removed else None
        faiss.write_index(graph if graph is not None else self.build_hnsw(), str(graph_path))

    def _grown_graph(self, graph_path: Path):
        """The previous generation's graph plus this update's vectors, if it matches the store."""
        graph = _read(graph_path)
        if graph.ntotal + sum(len(ids) for ids, _v in self._added) != self._index.ntotal:
            return None  # not the graph of this store's previous state: build anew
        for ids, vectors in self._added:
            graph.add_with_ids(vectors, ids)
        return graph

    def build_hnsw(self, storage: str = HNSW_STORAGE):
        """An HNSW graph of the stored vectors (see `build_hnsw`)."""
        return build_hnsw(self._index, storage)
