"""Above HNSW_THRESHOLD vectors, searches go to an HNSW graph that always holds the live vectors."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import index.storage.vectors as vectors_module
from index.pipeline.builder import build
from index.pipeline.check import check_index
from index.storage.manifest import read_manifest
from index.storage.vectors import FaissVectorStore, LazyVectorStore, VectorWriter, hnsw_path
from search.engine import Engine
from tests.conftest import HashingEncoder

DIM = 32


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def ids_of(path) -> set[int]:
    return FaissVectorStore(path).ids()


def test_graph_is_built_past_the_threshold_and_searched_instead(tmp_path):
    flat = tmp_path / "vectors.faiss"
    writer = VectorWriter(DIM, hnsw_threshold=100)
    writer.add(list(range(50)), unit_vectors(50, 0))
    writer.save(flat)
    assert not hnsw_path(flat).exists()  # under the threshold: exact only

    writer.add(list(range(50, 300)), unit_vectors(250, 1))
    writer.save(flat)
    assert ids_of(hnsw_path(flat)) == ids_of(flat) == set(range(300))
    store = LazyVectorStore(flat, DIM)
    assert store._path == hnsw_path(flat)
    exact = FaissVectorStore(flat)
    for query in unit_vectors(20, 2):  # tiny graph, efSearch >= size: the same top 10
        assert [i for i, _ in store.search(query, 10)] == [i for i, _ in exact.search(query, 10)]


def test_a_graph_with_damaged_vectors_is_a_clear_error_not_wild_scores(tmp_path):
    import faiss

    from index.errors import IndexCorrupted

    flat = tmp_path / "vectors.faiss"
    writer = VectorWriter(DIM, hnsw_threshold=100)
    writer.add(list(range(300)), unit_vectors(300, 0))
    writer.save(flat)
    # The exact index's vectors are checked when it is read; the graph's float16 copy is not, so
    # its searches are: here its vectors are three times too long.
    damaged = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    damaged.add_with_ids(unit_vectors(300, 0) * 3, np.arange(300, dtype=np.int64))
    faiss.write_index(vectors_module.build_hnsw(damaged), str(hnsw_path(flat)))
    query = unit_vectors(1, 0)[0]
    assert FaissVectorStore(flat).search(query, 5)[0][1] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(IndexCorrupted, match=r"vectors.hnsw is damaged \(a similarity of 3\)"):
        LazyVectorStore(flat, DIM).search(query, 5)


def test_an_update_that_only_adds_grows_the_previous_graph(tmp_path, monkeypatch):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    writer = VectorWriter(DIM, hnsw_threshold=100)
    writer.add(list(range(200)), unit_vectors(200, 0))
    writer.save(old / "vectors.faiss")
    for name in ("vectors.faiss", "vectors.hnsw"):  # what the builder copies into a new generation
        shutil.copy2(old / name, new / name)

    def no_rebuild(self):
        raise AssertionError("adding vectors must not rebuild the graph")

    monkeypatch.setattr(VectorWriter, "build_hnsw", no_rebuild)
    writer = VectorWriter(DIM, new / "vectors.faiss", hnsw_threshold=100)
    writer.add(list(range(200, 230)), unit_vectors(30, 1))
    writer.save(new / "vectors.faiss")
    assert ids_of(new / "vectors.hnsw") == set(range(230))


def test_an_update_that_removes_rebuilds_the_graph_and_below_the_threshold_drops_it(tmp_path):
    flat = tmp_path / "vectors.faiss"
    writer = VectorWriter(DIM, hnsw_threshold=100)
    writer.add(list(range(200)), unit_vectors(200, 0))
    writer.save(flat)

    writer = VectorWriter(DIM, flat, hnsw_threshold=100)
    writer.remove(list(range(0, 200, 2)))  # HNSW cannot remove: no stale vector may stay findable
    writer.add([500, 501], unit_vectors(2, 1))
    writer.save(flat)
    live = set(range(1, 200, 2)) | {500, 501}
    assert ids_of(hnsw_path(flat)) == ids_of(flat) == live
    store = LazyVectorStore(flat, DIM)
    assert {i for i, _ in store.search(unit_vectors(1, 3)[0], len(live))} == live

    writer = VectorWriter(DIM, flat, hnsw_threshold=100)
    writer.remove(list(range(1, 200, 2)))
    writer.save(flat)
    assert not hnsw_path(flat).exists() and ids_of(flat) == {500, 501}


def treaties_past_the_threshold(tmp_path, monkeypatch, *extra: tuple[str, str]):
    """(corpus, index folder, its generation folder, encoder): 40 treaty articles and `extra`
    (name, text) files indexed past a lowered HNSW_THRESHOLD, so the generation has a graph."""
    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 20)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"{i:02d}.txt").write_text(f"Treaty {i}\nNaval treaty number {i} between the two navies.\n")
    for name, text in extra:
        (corpus / name).write_text(text)
    encoder = HashingEncoder()
    build([corpus], index_dir, encoder=encoder)
    generation = index_dir / read_manifest(index_dir).generation
    assert (generation / "vectors.hnsw").exists()
    return corpus, index_dir, generation, encoder


def test_index_past_the_threshold_stays_consistent_through_updates(tmp_path, monkeypatch):
    corpus, index_dir, _generation, encoder = treaties_past_the_threshold(
        tmp_path, monkeypatch, ("libya.txt", "Libya deal\nRussia may resume military cooperation with Libya.\n"))

    (corpus / "05.txt").write_text("Treaty 5\nAn amended naval treaty.\n")  # an update: remove + add
    (corpus / "new.txt").write_text("Arms sales\nArms sales to North Africa grew.\n")
    build([corpus], index_dir, encoder=encoder)
    assert check_index(index_dir).consistent
    with Engine.open(index_dir, encoder=encoder) as engine:
        assert engine.search("Libya military cooperation", k=1, mode="semantic")[0].id == "libya"


def test_check_finds_a_graph_that_disagrees_with_the_exact_index(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 2)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(5):
        (corpus / f"{i}.txt").write_text(f"Title {i}\nBody of article {i}.\n")
    build([corpus], tmp_path / "ix", encoder=HashingEncoder())
    generation = tmp_path / "ix" / read_manifest(tmp_path / "ix").generation
    writer = VectorWriter(HashingEncoder.dim, generation / "vectors.faiss", hnsw_threshold=0)
    writer.add([999], unit_vectors(1, 0).repeat(2, axis=1))  # 64 wide, like the fake encoder
    writer.save(tmp_path / "other.faiss")
    shutil.copy2(tmp_path / "other.hnsw", generation / "vectors.hnsw")
    result = check_index(tmp_path / "ix")
    assert not result.consistent and "HNSW graph and exact vector index differ by 1" in result.problems[0]


@pytest.mark.parametrize("threshold", [0, 10**9])
def test_empty_and_tiny_stores_work_either_way(tmp_path, threshold):
    flat = tmp_path / "vectors.faiss"
    VectorWriter(DIM, hnsw_threshold=threshold).save(flat)
    assert LazyVectorStore(flat, DIM).search(unit_vectors(1, 0)[0], 10) == []


def test_filters_and_similar_work_on_the_graph(tmp_path, monkeypatch):
    from index.filters import Filters

    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 20)
    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"{i:02d}.txt").write_text(f"Treaty {i}\nNaval treaty number {i} between the two navies.\n")
    (corpus / "libya.txt").write_text("Libya deal\nRussia may resume military cooperation with Libya.\n")
    (corpus / "libya2.txt").write_text("Libya talks\nA Libyan delegation will discuss military cooperation in Moscow.\n")
    encoder = HashingEncoder()
    build([corpus], index_dir, encoder=encoder)
    assert (index_dir / read_manifest(index_dir).generation / "vectors.hnsw").exists()
    with Engine.open(index_dir, encoder=encoder) as engine:
        hits = engine.search("naval treaty", k=5, mode="semantic", filters=Filters(countries=("Libya",)))
        assert {h.id for h in hits} == {"libya", "libya2"}  # the filter applies inside the graph search
        assert engine.similar("libya", k=1)[0].id == "libya2"  # vectors come from the exact index


@pytest.mark.parametrize("storage", ["flat", "fp16", "sq8"])
def test_each_graph_storage_finds_the_exact_neighbours(storage):
    writer = VectorWriter(DIM, hnsw_threshold=10**9)
    writer.add(list(range(500)), unit_vectors(500, 3))
    graph = FaissVectorStore.from_index(writer.build_hnsw(storage))
    exact = FaissVectorStore.from_index(writer._index)
    recall = np.mean([
        len({i for i, _ in graph.search(q, 10)} & {i for i, _ in exact.search(q, 10)}) / 10
        for q in unit_vectors(50, 4)
    ])
    assert recall >= (0.99 if storage != "sq8" else 0.9)


def test_the_default_graph_keeps_float16_vectors_in_less_memory():
    import faiss

    writer = VectorWriter(DIM, hnsw_threshold=10**9)
    writer.add(list(range(300)), unit_vectors(300, 5))
    default, flat = writer.build_hnsw(), writer.build_hnsw("flat")
    graph = faiss.downcast_index(default.index)
    assert isinstance(graph, faiss.IndexHNSWSQ) and faiss.downcast_index(graph.storage).sq.qtype == faiss.ScalarQuantizer.QT_fp16
    saved = faiss.serialize_index(flat).size - faiss.serialize_index(default).size
    assert saved >= 300 * DIM * 1.9  # about two bytes per dimension of every vector


def test_every_searching_thread_uses_one_faiss_thread_and_searches_never_toggle_it(tmp_path):
    import threading

    import faiss

    writer = VectorWriter(DIM, hnsw_threshold=10**9)
    writer.add(list(range(100)), unit_vectors(100, 6))
    writer.save(tmp_path / "vectors.faiss")
    store = LazyVectorStore(tmp_path / "vectors.faiss", DIM)
    seen: dict[str, list[int]] = {}

    def search_in_a_new_thread(name: str) -> None:
        before = faiss.omp_get_max_threads()  # OpenMP's setting is per thread: the default here
        store.search(unit_vectors(1, 7)[0], 5)
        after_first = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(2)  # e.g. a build in this thread afterwards
        store.search(unit_vectors(1, 8)[0], 5)
        seen[name] = [before, after_first, faiss.omp_get_max_threads()]

    threads = [threading.Thread(target=search_in_a_new_thread, args=(f"t{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(after_first == 1 and last == 2 for _before, after_first, last in seen.values()), seen


def test_scores_are_identical_whichever_thread_searches(tmp_path):
    import threading

    # Large enough for faiss to split a search between OpenMP threads when a thread lets it
    # (20k x 384): summed in another order, the scores differ in the last bit.
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((20000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    writer = VectorWriter(384, hnsw_threshold=10**9)
    writer.add(list(range(20000)), vectors)
    writer.save(tmp_path / "vectors.faiss")
    store = LazyVectorStore(tmp_path / "vectors.faiss", 384)
    queries = vectors[:10] + 0.1
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    here = [store.search(q, 400) for q in queries]
    there: list = []
    thread = threading.Thread(target=lambda: there.extend(store.search(q, 400) for q in queries))
    thread.start()
    thread.join()
    assert there == here


def test_a_segment_of_twenty_thousand_vectors_is_searched_through_its_graph(tmp_path):
    # The default threshold, chosen by measurement (index/storage/vectors.py): an exhaustive scan
    # of 20,000 passage vectors costs more CPU a search than the graph.
    flat = tmp_path / "vectors.faiss"
    writer = VectorWriter(DIM)
    writer.add(list(range(19_999)), unit_vectors(19_999, 3))
    writer.save(flat)
    assert not hnsw_path(flat).exists()
    writer.add([19_999], unit_vectors(1, 4))
    writer.save(flat)
    assert ids_of(hnsw_path(flat)) == set(range(20_000))
    assert LazyVectorStore(flat, DIM)._path == hnsw_path(flat)


def _bytes_read() -> int:
    """What this process has read through read() so far (Linux's /proc/self/io)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("rchar:"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_a_warm_store_behind_a_graph_reads_its_exact_vectors_through_once(tmp_path, monkeypatch):
    # Its completion reads the exact vectors through a memory map: warm-up reads the file once,
    # so that the page cache holds it, where a fresh process faulted its pages in from disk.
    flat = tmp_path / "vectors.faiss"
    writer = VectorWriter(DIM, hnsw_threshold=100)
    writer.add(list(range(3000)), unit_vectors(3000, 0))
    writer.save(flat)
    size = flat.stat().st_size
    graph = LazyVectorStore(flat, DIM)
    before = _bytes_read()
    graph.hold()
    assert _bytes_read() - before >= size
    monkeypatch.setattr(vectors_module, "WARM_READ_BYTES", size - 1)  # a file over the budget is left
    before = _bytes_read()
    graph.hold()
    assert _bytes_read() - before < size
    hnsw_path(flat).unlink()  # an exact store: its first search reads it whole anyway
    before = _bytes_read()
    LazyVectorStore(flat, DIM).hold()
    assert _bytes_read() - before < size


def test_warming_an_engine_behind_a_graph_reads_its_exact_vectors(tmp_path, monkeypatch):
    _corpus, index_dir, generation, encoder = treaties_past_the_threshold(tmp_path, monkeypatch)
    held: list[Path] = []
    hold = LazyVectorStore.hold
    monkeypatch.setattr(LazyVectorStore, "hold", lambda self: held.append(self._exact_path) or hold(self))
    with Engine.open(index_dir, encoder=encoder) as engine:
        engine.warm()
        assert held == [generation / "vectors.faiss"]
        assert engine.search("naval treaty", k=3, mode="hybrid").hits
