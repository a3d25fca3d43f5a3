"""The exact search over a compressed copy of a flat index (CompressedScan): the same ids, float
scores and order as IndexFlatIP's own search, bit for bit, with `allowed` and `excluded` ids,
ties at the k-th score, several segments with tombstones, and from several threads."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import faiss
import numpy as np
import pytest

import index.storage.vectors as vectors_module
from index.storage.segments import VectorSegment
from index.storage.vectors import (
    CompressedScan,
    FaissVectorStore,
    SegmentedVectorStore,
    SegmentVectorWriter,
    open_vectors,
)

CODES = ["bf16", "fp16", "sq8", "sq8u"]
# k under faiss's reservoir (100) and from it on, up to the engine's 400.
LIMITS = [1, 7, 40, 99, 100, 400]


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, d: int, seed: int) -> np.ndarray:
    """Unit vectors around 30 centres, like passages of a few topics."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((30, d)))
    return unit(centres[rng.integers(0, 30, n)] + 0.6 * unit(rng.standard_normal((n, d))))


def with_copies(n: int, d: int, seed: int) -> np.ndarray:
    """Vectors drawn from 40 distinct ones: every score is tied many times over."""
    rng = np.random.default_rng(seed)
    return unit(rng.standard_normal((40, d)))[rng.integers(0, 40, n)]


def flat_index(vectors: np.ndarray, ids: np.ndarray) -> faiss.IndexIDMap2:
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    index.add_with_ids(vectors, ids)
    return index


def faiss_search(index, query: np.ndarray, k: int, allowed=None, excluded=None) -> list[tuple[int, float]]:
    """IndexFlatIP's own search with the selectors the store uses."""
    selector = None
    if allowed is not None:
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
    elif excluded is not None and len(excluded):
        batch = faiss.IDSelectorBatch(np.asarray(excluded, dtype=np.int64))
        selector = faiss.IDSelectorNot(batch)
        selector.referenced = batch
    params = faiss.SearchParameters(sel=selector) if selector is not None else None
    scores, ids = index.search(query.reshape(1, -1), k, params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


@pytest.fixture(autouse=True)
def one_faiss_thread():
    vectors_module.use_one_faiss_thread()  # as every searching thread of a store does


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("kind", ["random", "clustered"])
def test_the_scan_returns_what_the_flat_search_returns(code: str, kind: str) -> None:
    n, d = 3000, 48
    rng = np.random.default_rng(1)
    vectors = unit(rng.standard_normal((n, d))) if kind == "random" else clustered(n, d, 1)
    ids = np.arange(n, dtype=np.int64) * 3 + 5  # passage ids are not positions...
    if kind == "clustered":
        ids = rng.permutation(ids)  # ...nor always in order
    index = flat_index(vectors, ids)
    scan = CompressedScan(index, code)
    queries = np.vstack([unit(rng.standard_normal((6, d))), clustered(6, d, 2)])
    answered = 0
    for query in queries:
        q = query.reshape(1, -1)
        for k in LIMITS:
            for allowed, excluded in [
                (None, None),
                (rng.choice(ids, 2000, replace=False).tolist(), None),  # scanned with a selector
                (rng.choice(ids, 300, replace=False).tolist() + [1, 2, 4], None),  # scored outright; unknown ids
                (None, rng.choice(ids, 700, replace=False)),
            ]:
                cap = min(k, n if allowed is None else len(allowed))
                found = scan.search(q, cap, allowed, excluded)
                expected = faiss_search(index, query, cap, allowed, excluded)
                if found is not None:
                    answered += 1
                    assert found == expected, (k, allowed is not None, excluded is not None)
    assert answered == len(queries) * len(LIMITS) * 4  # no ties here: the copy always answers


@pytest.mark.parametrize("code", ["bf16", "sq8"])
def test_ties_at_the_kth_score_are_kept_as_faiss_keeps_them(code: str) -> None:
    n, d = 4000, 32
    vectors = with_copies(n, d, 3)
    ids = np.arange(n, dtype=np.int64)
    index = flat_index(vectors, ids)
    scan = CompressedScan(index, code)
    rng = np.random.default_rng(4)
    fell_back = answered = 0
    for query in unit(rng.standard_normal((15, d))):
        q = query.reshape(1, -1)
        for k in [1, 2, 10, 55, 99, 100, 150, 400]:
            for allowed, excluded in [(None, None), (rng.choice(ids, 3000, replace=False).tolist(), None),
                                      (None, rng.choice(ids, 500, replace=False))]:
                found = scan.search(q, k, allowed, excluded)
                expected = faiss_search(index, query, k, allowed, excluded)
                if found is None:
                    assert k >= 100  # only faiss's reservoir, from k = 100 on, is left to faiss
                    fell_back += 1
                else:
                    answered += 1
                    assert found == expected, (k, allowed is not None, excluded is not None)
    # Under k = 100 every straddling tie was worked out (the heap's rule), and it straddled.
    assert answered >= 15 * 5 * 3 and fell_back > 0


@pytest.mark.parametrize("code", CODES)
def test_the_bound_holds_for_every_vector(code: str) -> None:
    n, d = 2000, 64
    vectors = np.vstack([clustered(n - 10, d, 5), np.zeros((10, d), np.float32)])  # zero vectors allowed
    index = flat_index(vectors, np.arange(n, dtype=np.int64))
    scan = CompressedScan(index, code)
    for query in clustered(20, d, 6):
        q = query.reshape(1, -1)
        approx, positions = scan._codes.search(q, n)
        exact = scan._exact(q, positions[0])
        assert float((exact - approx[0]).max()) <= scan.bound(q)


def copy_everywhere(monkeypatch, after: int = 1) -> None:
    monkeypatch.setattr(vectors_module, "SCAN_MIN_FLOATS", 0)
    monkeypatch.setattr(vectors_module, "SCAN_AFTER_SEARCHES", after)
    monkeypatch.setattr(vectors_module, "SCAN_MAX_SHARE", 1.0)


@pytest.mark.parametrize("sq8_from", [0, 10**12])  # the large stores' code, and the small ones'
def test_a_store_scans_its_copy_from_the_nth_search(tmp_path: Path, monkeypatch, sq8_from: int) -> None:
    copy_everywhere(monkeypatch, after=3)
    monkeypatch.setattr(vectors_module, "SCAN_SQ8_FROM", sq8_from)
    assert vectors_module.scan_code(2500, 40) == ("sq8" if sq8_from == 0 else "bf16")
    vectors = clustered(2500, 40, 7)
    ids = np.arange(2500, dtype=np.int64) + 100
    path = tmp_path / "vectors.faiss"
    faiss.write_index(flat_index(vectors, ids), str(path))
    store, plain = FaissVectorStore(path), FaissVectorStore(path)
    monkeypatch.setattr(plain, "_compressed", lambda: None)
    queries = clustered(12, 40, 8)
    for number, query in enumerate(queries[:3], start=1):
        assert store.search(query, 400) == plain.search(query, 400)
        assert store.scan_state == ("built" if number == 3 else "not yet")

    def no_plain_scan(*_args):
        raise AssertionError("the copy answers these searches")

    monkeypatch.setattr(store, "_faiss_search", no_plain_scan)
    for query in queries[3:]:
        for k in (10, 400, 1600):
            assert store.search(query, k) == plain.search(query, k)
        assert store.search(query, 30, allowed=list(range(100, 2600, 2))) == plain.search(query, 30, allowed=list(range(100, 2600, 2)))
        assert store.search(query, 400, excluded=np.arange(100, 1000)) == plain.search(query, 400, excluded=np.arange(100, 1000))
        assert store.search(query, 5, allowed=[]) == [] and store.search(query, 5, allowed=[1, 2]) == []


def test_a_search_for_a_large_share_of_the_vectors_skips_the_copy(monkeypatch) -> None:
    monkeypatch.setattr(vectors_module, "SCAN_MIN_FLOATS", 0)
    monkeypatch.setattr(vectors_module, "SCAN_AFTER_SEARCHES", 1)
    vectors = clustered(2400, 40, 15)
    store = FaissVectorStore.from_index(flat_index(vectors, np.arange(2400, dtype=np.int64)))
    plain = FaissVectorStore.from_index(flat_index(vectors, np.arange(2400, dtype=np.int64)))
    monkeypatch.setattr(plain, "_compressed", lambda: None)
    queries = clustered(6, 40, 16)
    store.search(queries[0], 10)
    assert store.scan_state == "built"
    share = int(2400 * vectors_module.SCAN_MAX_SHARE)  # 100 of 2,400
    used = []
    copy_search = store._scan.search
    faiss_search = store._faiss_search
    monkeypatch.setattr(store._scan, "search", lambda *a: used.append("copy") or copy_search(*a))
    monkeypatch.setattr(store, "_faiss_search", lambda *a: used.append("faiss") or faiss_search(*a))
    for query in queries[1:]:
        used.clear()
        assert store.search(query, share) == plain.search(query, share)
        assert store.search(query, share + 1) == plain.search(query, share + 1)
        assert store.search(query, 1600) == plain.search(query, 1600)
        # A filtered search keeps the copy, which ranks a small allowed set exactly.
        assert store.search(query, 400, allowed=list(range(0, 2400, 3))) == plain.search(query, 400, allowed=list(range(0, 2400, 3)))
        assert used == ["copy", "faiss", "faiss", "copy"]
    assert store.scan_state == "built" and store._scan_fallbacks == 0


def test_small_stores_and_graphs_keep_faiss_scan(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectors_module, "SCAN_AFTER_SEARCHES", 1)
    monkeypatch.setattr(vectors_module, "SCAN_MIN_FLOATS", 2000 * 40 + 1)
    store = FaissVectorStore.from_index(flat_index(clustered(2000, 40, 9), np.arange(2000, dtype=np.int64)))
    store.search(clustered(1, 40, 10)[0], 10)
    assert store.scan_state == "too small"
    writer = vectors_module.VectorWriter(40, hnsw_threshold=100)
    writer.add(list(range(300)), clustered(300, 40, 11))
    monkeypatch.setattr(vectors_module, "SCAN_MIN_FLOATS", 0)
    graph = FaissVectorStore.from_index(writer.build_hnsw())
    graph.search(clustered(1, 40, 12)[0], 10)
    assert graph.scan_state == "graph"


def test_a_store_whose_searches_keep_falling_back_drops_its_copy(monkeypatch) -> None:
    copy_everywhere(monkeypatch)
    vectors = with_copies(3000, 32, 13)
    store = FaissVectorStore.from_index(flat_index(vectors, np.arange(3000, dtype=np.int64)))
    plain = FaissVectorStore.from_index(flat_index(vectors, np.arange(3000, dtype=np.int64)))
    monkeypatch.setattr(plain, "_compressed", lambda: None)
    for query in unit(np.random.default_rng(14).standard_normal((vectors_module.SCAN_JUDGED_AFTER + 5, 32))):
        assert store.search(query, 400) == plain.search(query, 400)
    assert store.scan_state == "ties"


def test_segments_with_tombstones_search_alike_with_and_without_copies(tmp_path: Path, monkeypatch) -> None:
    d = 32
    folder = tmp_path / "gen"
    folder.mkdir()
    base = SegmentVectorWriter(d, folder, [], "", 0)
    base.add(list(range(3000)), clustered(3000, d, 15))
    base.commit()
    newer = SegmentVectorWriter(d, folder, base.segments, "000002", 3000)
    newer.remove(list(range(0, 3000, 13)))  # tombstones in the base segment (few: it is not rewritten)
    newer.add(list(range(3000, 3300)), clustered(300, d, 16))  # small: not folded into the base
    newer.commit()
    segments: list[VectorSegment] = newer.segments
    assert len(segments) == 2 and segments[0].dead > 0
    plain = open_vectors(folder, d, segments)
    queries = clustered(8, d, 17)
    expected = [plain.search(q, k, allowed) for q in queries for k in (10, 400)
                for allowed in (None, list(range(1, 3300, 3)))]
    plain.close()
    copy_everywhere(monkeypatch)
    scanned = open_vectors(folder, d, segments)
    assert isinstance(scanned, SegmentedVectorStore)
    found = [scanned.search(q, k, allowed) for q in queries for k in (10, 400)
             for allowed in (None, list(range(1, 3300, 3)))]
    assert [part._store.scan_state for part in scanned._parts] == ["built", "built"]
    assert found == expected
    scanned.close()


def test_threads_share_a_store_while_its_copy_is_made(monkeypatch) -> None:
    copy_everywhere(monkeypatch, after=4)
    vectors = clustered(4000, 48, 18)
    store = FaissVectorStore.from_index(flat_index(vectors, np.arange(4000, dtype=np.int64)))
    expected_store = FaissVectorStore.from_index(flat_index(vectors, np.arange(4000, dtype=np.int64)))
    monkeypatch.setattr(expected_store, "_compressed", lambda: None)
    queries = clustered(40, 48, 19)
    expected = [expected_store.search(q, 400) for q in queries]
    results: dict[int, list] = {}

    def run(number: int) -> None:
        vectors_module.use_one_faiss_thread()
        results[number] = [store.search(q, 400) for q in queries]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.scan_state == "built"
    assert all(results[n] == expected for n in range(4))


def test_the_benchmark_runs_and_finds_every_answer_equal(monkeypatch, capsys, tmp_path: Path) -> None:
    from benchmarks.query_speed import bench_scan

    out = tmp_path / "scan.json"
    monkeypatch.setattr("sys.argv", ["bench_scan", "--sizes", "3000", "--dim", "32", "--queries", "5", "--rounds", "1",
                                     "--codes", "bf16,sq8", "--no-wait", "--out", str(out)])
    bench_scan.main()
    assert "answers differing" in capsys.readouterr().out
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 2 * 3 and all(r["differ"] == 0 and r["answered"] == 5 for r in rows)


def test_inner_products_are_the_flat_searchs_scores_bit_for_bit() -> None:
    # What the engine scores a candidate's passages with when the semantic leg did not fetch it
    # (search/engine.py, `_passage_cosines`): the very floats the leg would have given them.
    from index.storage.vectors import inner_products

    rng = np.random.default_rng(3)
    n, d = 700, 384
    vectors = unit(rng.standard_normal((n, d)))
    index = faiss.IndexFlatIP(d)
    index.add(vectors)
    for query in unit(rng.standard_normal((5, d))):
        scores, positions = index.search(query.reshape(1, -1), n)
        rows = vectors[positions[0]]
        assert np.array_equal(inner_products(rows, query), scores[0])
        assert np.array_equal(inner_products(rows[::-1], query), scores[0][::-1])
    assert inner_products(np.zeros((0, d), np.float32), vectors[0]).shape == (0,)
