"""The article and vector stores in segments: an update links the generation before it and
writes only its own segment, readers of the old generation keep their state, every read is
right across segments, a failure at any step leaves the live generation as it was, and an
index written before segments still opens, checks and updates."""

from __future__ import annotations

import errno
import hashlib
import json
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import index.storage.vectors as vectors_module
from cli import app
from index.errors import ArticleNotFound, IndexIncompatible
from index.pipeline.builder import build
from index.pipeline.check import check_index
from index.storage.directory import IndexDirectory
from index.storage.docstore import DocStoreWriter, generation_docstore
from index.storage.folder import FolderStore
from index.storage.keyword import KeywordWriter
from index.storage.layout import SEGMENTS_FILE, docstore_file, removed_file, vectors_file
from index.storage.manifest import FORMAT_VERSION, read_manifest
from index.storage.segments import FOLD_TIER, MAX_SEGMENTS, fold_from, read_segments, segment_name
from index.storage.vectors import SegmentVectorWriter, hnsw_path
from search.engine import Engine
from tests.conftest import FAKE_MODEL, HashingEncoder

WORDS = ["navy", "treaty", "missile", "grain", "harvest", "talks", "frigate", "tank", "drone", "summit",
         "export", "radar", "sanctions", "exercise", "submarine", "wheat", "border", "airbase", "convoy", "pact"]
SOURCES = ["Reuters", "AFP", "TASS"]
QUERIES = ["navy frigate", "grain harvest", "missile treaty", "drone radar", "submarine pact"]
# The same words twice: a near-duplicate of any article that shares them.
COPY_BODY = "The navy and the treaty talks on missile export radar were held at the summit in the border town."


def _record(number: int, rng: random.Random, body: str | None = None) -> dict:
    words = rng.sample(WORDS, 6)
    return {
        "id": f"a{number:03d}",
        "title": " ".join(words[:3]).title(),
        "body": body or f"{' '.join(words)} were discussed at length. " * 2,
        "date": f"2021-{number % 12 + 1:02d}-{number % 27 + 1:02d}",
        "source": SOURCES[number % 3],
    }


def _write(source: Path, records: dict[str, dict]) -> None:
    source.mkdir(exist_ok=True)
    (source / "articles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records.values()))


def _base(source: Path, count: int = 80, seed: int = 5) -> dict[str, dict]:
    rng = random.Random(seed)
    records = {r["id"]: r for r in (_record(n, rng) for n in range(count))}
    records["a000"]["body"] = COPY_BODY  # a near-duplicate pair in the base
    records["a001"]["body"] = COPY_BODY
    _write(source, records)
    return records


def _live(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir).generation


def _update(source: Path, records: dict[str, dict], index_dir: Path, seed: int, *, copy: bool = False) -> None:
    """Change one article, remove one, add one (a copy of the duplicate pair when `copy`)."""
    rng = random.Random(seed)
    numbers = sorted(int(k[1:]) for k in records)
    changed, removed = rng.sample([n for n in numbers if n > 2], 2)
    records[f"a{changed:03d}"] = _record(changed, rng)
    del records[f"a{removed:03d}"]
    new = _record(max(numbers) + 1, rng, COPY_BODY if copy else None)
    records[new["id"]] = new
    _write(source, records)
    build([], index_dir, encoder=HashingEncoder())


def _snapshot(index_dir: Path) -> dict:
    """What a user can observe of an index through the engine."""
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        stats = engine.stats()
        # Every article is dated. An unchanged article keeps the line it was read from.
        articles = {a.id: replace(a, path="") for a in engine.newest(k=10_000)}
        ids = sorted(articles)
        out: dict = {
            "counts": (stats.articles, stats.passages),
            "articles": articles,
            "groups": engine.duplicate_groups(ids),
        }
        for query in QUERIES:
            out[query, "keyword"] = sorted(h.id for h in engine.search(query, k=500, mode="keyword", collapse=False).hits)
            out[query, "semantic"] = [(h.id, round(h.score, 5)) for h in
                                      engine.search(query, k=20, mode="semantic", collapse=False).hits]
            out[query, "hybrid"] = sorted(h.id for h in engine.search(query, k=500, collapse=False).hits)
            facets = engine.search(query, k=10, mode="keyword", facets=True).facets
            out[query, "facets"] = facets
        out["similar"] = sorted(h.id for h in engine.similar("a002", k=500).hits)
    return out


def test_an_update_links_the_last_generation_and_writes_only_its_own_segment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 50)  # the base segment gets a graph
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    old = _live(index_dir)
    assert hnsw_path(old / vectors_file("")).exists()
    _update(source, records, index_dir, seed=1)
    new = _live(index_dir)
    assert new != old and old.is_dir()
    for name in (docstore_file(""), vectors_file(""), hnsw_path(Path(vectors_file(""))).name):
        assert (new / name).stat().st_ino == (old / name).stat().st_ino, name  # linked, not copied
    own = segment_name(new.name)
    written = {p.name for p in new.iterdir() if p.is_file() and p.stat().st_nlink == 1}
    assert written == {docstore_file(own), vectors_file(own), removed_file(own), SEGMENTS_FILE, "manifest.json"}
    segments = read_segments(new)
    assert segments is not None
    assert [s.name for s in segments.docs] == [s.name for s in segments.vectors] == ["", own]
    # The new segment holds what the update wrote: the changed and the added article.
    assert segments.docs[1].articles == 2 and segments.docs[0].dead_articles == 2
    assert (new / vectors_file(own)).stat().st_size < (old / vectors_file("")).stat().st_size / 10
    assert check_index(index_dir).consistent


def test_a_reader_of_the_last_generation_keeps_its_state_through_updates(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    _update(source, records, index_dir, seed=1)  # the generation read below has two segments
    encoder = HashingEncoder()
    generation = FolderStore(index_dir).open_generation(1.2, 0.75, FAKE_MODEL)
    try:
        docs, vectors = generation.docs, generation.vectors
        query = encoder.encode(["navy frigate missile"])[0]
        before = (docs.count_articles(), docs.count_passages(), docs.article_ids(), vectors.search(query, 30),
                  {a: docs.article(a) for a in sorted(docs.article_ids())})
        for seed in (2, 3, 4):
            _update(source, records, index_dir, seed=seed)
        assert _live(index_dir) != generation.lease.path
        after = (docs.count_articles(), docs.count_passages(), docs.article_ids(), vectors.search(query, 30),
                 {a: docs.article(a) for a in sorted(docs.article_ids())})
        assert after == before
    finally:
        generation.retire()
    IndexDirectory(index_dir).prune(keep={_live(index_dir).name})  # released: it goes now
    assert not generation.lease.path.exists()


def test_reads_are_right_across_segments_after_changes_removals_and_copies(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    base = (_live(index_dir) / docstore_file("")).stat().st_ino
    for seed in (1, 2, 3):
        _update(source, records, index_dir, seed=seed, copy=seed == 2)
    live = _live(index_dir)
    segments = read_segments(live)
    assert segments is not None and len(segments.docs) >= 2 and len(segments.vectors) >= 2
    assert (live / docstore_file("")).stat().st_ino == base  # the build's segment was never rewritten
    scratch = tmp_path / "scratch"
    build([source], scratch, encoder=HashingEncoder())
    incremental, fresh = _snapshot(index_dir), _snapshot(scratch)
    for key in fresh:
        assert incremental[key] == fresh[key], key
    assert set(incremental["articles"]) == set(records)
    stores = [generation_docstore(_live(folder)) for folder in (index_dir, scratch)]
    try:
        assert stores[0].files() == stores[1].files()  # the source files' records, across segments too
        assert stores[0].content_hashes() == stores[1].content_hashes()
    finally:
        for store in stores:
            store.close()
    copies = [a for a, r in records.items() if r["body"] == COPY_BODY]
    assert len(copies) == 3 and len(set(incremental["groups"][a] for a in copies)) == 1
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        with pytest.raises(ArticleNotFound):
            engine.article("a099")  # never indexed
    assert check_index(index_dir).consistent


def test_passage_ids_are_never_used_twice(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source, count=30)
    build([source], index_dir, encoder=HashingEncoder())
    seen: set[int] = set()
    for seed in range(1, 6):
        docs = generation_docstore(_live(index_dir))
        try:
            seen |= docs.passage_ids()
        finally:
            docs.close()
        _update(source, records, index_dir, seed=seed)
        docs = generation_docstore(_live(index_dir))
        try:
            fresh = docs.passage_ids_of([max(records)])
        finally:
            docs.close()
        assert fresh and not set(fresh) & seen


FAILURES = {
    "articles": (DocStoreWriter, "commit"),
    "vectors": (SegmentVectorWriter, "commit"),
    "keyword": (KeywordWriter, "commit"),
}


@pytest.mark.parametrize("step", ["articles", "vectors", "keyword", "fold", "publish"])
def test_a_failure_at_any_step_of_an_update_leaves_the_live_generation_whole(tmp_path: Path, monkeypatch, step: str) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    _update(source, records, index_dir, seed=1)
    live = _live(index_dir)
    files = {p.relative_to(live): (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest())
             for p in live.rglob("*") if p.is_file()}
    before = _snapshot(index_dir)

    def fail(*args, **kwargs):
        raise OSError(errno.EIO, "injected failure")

    if step in FAILURES:
        monkeypatch.setattr(*FAILURES[step], fail)
    elif step == "fold":
        # Removing a fifth of the base makes the update fold the base segment: fail in the
        # middle of writing the folded vectors, after the links to the folded files went.
        for key in sorted(records)[10:30]:
            del records[key]
        monkeypatch.setattr(vectors_module, "_replace_with", fail)
    else:
        monkeypatch.setattr("index.storage.transaction.write_manifest", fail)
    with pytest.raises(Exception, match="injected failure"):
        _update(source, records, index_dir, seed=2)
    monkeypatch.undo()
    assert _live(index_dir) == live
    assert {p.relative_to(live): (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in live.rglob("*") if p.is_file()} == files
    assert [p.name for p in IndexDirectory(index_dir).generation_dirs()][-1] == live.name
    assert check_index(index_dir).consistent
    assert _snapshot(index_dir) == before
    build([], index_dir, encoder=HashingEncoder())  # the next update goes through
    assert check_index(index_dir).consistent


def test_check_passes_on_segments_and_names_a_damaged_one(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    _update(source, records, index_dir, seed=1)
    runner = CliRunner()
    result = runner.invoke(app, ["index", "--check", "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    live = _live(index_dir)
    newer = live / vectors_file(segment_name(live.name))
    data = bytearray(newer.read_bytes())
    data[100:116] = b"\x7f" * 16  # inside the newer segment's first vector, past the headers
    newer.write_bytes(bytes(data))
    result = runner.invoke(app, ["index", "--check", "--index", str(index_dir)])
    assert result.exit_code == 1 and newer.name in result.output, result.output
    newer.unlink()
    problems = check_index(index_dir).problems
    assert any(newer.name in p and "lacks" in p for p in problems), problems


def test_check_finds_segment_counts_that_do_not_add_up(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    _update(source, records, index_dir, seed=1)
    listing = _live(index_dir) / SEGMENTS_FILE
    data = json.loads(listing.read_text())
    data["articles"][0]["dead_articles"] -= 1
    listing.write_text(json.dumps(data))
    problems = check_index(index_dir).problems
    assert any(SEGMENTS_FILE in p and "counts" in p for p in problems), problems
    listing.write_text("{not json")
    problems = check_index(index_dir).problems
    assert any(SEGMENTS_FILE in p and "damaged" in p for p in problems), problems


def _as_before_segments(generation: Path) -> None:
    """Make a one-segment generation look as Accord wrote it before segments: no list, no
    tombstone tables."""
    (generation / SEGMENTS_FILE).unlink()
    db = sqlite3.connect(generation / docstore_file(""))
    db.executescript("DROP TABLE removed_articles; DROP TABLE removed_files; VACUUM;")
    db.close()


def test_an_index_written_before_segments_opens_checks_and_updates(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    old = _live(index_dir)
    _as_before_segments(old)
    for manifest in (index_dir / "manifest.json", old / "manifest.json"):
        if manifest.exists():
            manifest.write_text(json.dumps(dict(json.loads(manifest.read_text()), format_version=3)))
    assert read_manifest(index_dir).format_version == 3
    assert check_index(index_dir).consistent
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert engine.stats().articles == 80 and engine.search("navy frigate", mode="semantic").hits
    inode = (old / docstore_file("")).stat().st_ino
    for seed in (1, 2):
        _update(source, records, index_dir, seed=seed)
    assert (_live(index_dir) / docstore_file("")).stat().st_ino == inode  # read as the base segment
    assert read_manifest(index_dir).format_version == FORMAT_VERSION == 4  # an Accord reading 3 only refuses it
    assert check_index(index_dir).consistent
    scratch = tmp_path / "scratch"
    build([source], scratch, encoder=HashingEncoder())
    incremental, fresh = _snapshot(index_dir), _snapshot(scratch)
    for key in fresh:
        assert incremental[key] == fresh[key], key


def test_graph_segments_stay_right_through_updates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 50)
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    records = _base(source)
    build([source], index_dir, encoder=HashingEncoder())
    graph = hnsw_path(_live(index_dir) / vectors_file(""))
    inode = graph.stat().st_ino
    for seed in (1, 2, 3):
        _update(source, records, index_dir, seed=seed)
    live = _live(index_dir)
    assert hnsw_path(live / vectors_file("")).stat().st_ino == inode  # never rebuilt for an update
    assert check_index(index_dir).consistent
    monkeypatch.setattr(vectors_module, "HNSW_THRESHOLD", 10**9)
    scratch = tmp_path / "scratch"
    build([source], scratch, encoder=HashingEncoder())  # exact search only
    from index.filters import Filters

    only = Filters(sources=("AFP",))
    with Engine.open(index_dir, encoder=HashingEncoder()) as graphs, Engine.open(scratch, encoder=HashingEncoder()) as exact:
        for query in QUERIES:
            for filters in (None, only):
                found = graphs.search(query, k=5, mode="semantic", filters=filters, collapse=False).hits
                expected = exact.search(query, k=5, mode="semantic", filters=filters, collapse=False).hits
                # The graph keeps float16 vectors: the same articles, by scores a rounding apart.
                assert [round(h.score, 2) for h in found] == [round(h.score, 2) for h in expected]
                assert {h.id for h in found} <= {h.id for h in exact.search(query, k=10, mode="semantic", filters=filters, collapse=False).hits}
                assert set(records) >= {h.id for h in found}
            assert all(records[h.id]["source"] == "AFP" for h in graphs.search(query, k=5, mode="semantic", filters=only).hits)


def test_fold_from_follows_the_size_tiers() -> None:
    none = [False] * 3
    assert fold_from([1000, 100, 10], [0, 0, 0], none, 10) == 2  # the small one only
    assert fold_from([1000, 100, 10], [0, 0, 0], none, 40) == 1  # 10 + 40 take in 100
    assert fold_from([1000, 30, 10], [0, 0, 0], none, 250) == 0  # 290 take in 1000
    assert fold_from([1000, 100, 10], [0, 0, 0], [False, True, True], 1) == 1  # a run's own, always
    assert fold_from([1000, 100, 10], [200, 0, 0], none, 1) == 0  # a fifth of the base removed
    assert fold_from([1000, 100, 10], [50, 0, 0], none, 1) == 3  # a twentieth: left
    many = [FOLD_TIER ** (10 - i) for i in range(MAX_SEGMENTS + 2)]
    assert fold_from(many, [0] * len(many), [False] * len(many), 1) == MAX_SEGMENTS - 1
    assert fold_from([], [], [], 5) == 0


def test_an_index_of_a_format_this_accord_does_not_read_is_refused_in_one_line(tmp_path: Path) -> None:
    source, index_dir = tmp_path / "src", tmp_path / "ix"
    _base(source, count=5)
    build([source], index_dir, encoder=HashingEncoder())
    manifest = index_dir / "manifest.json"
    manifest.write_text(json.dumps(dict(json.loads(manifest.read_text()), format_version=5)))
    with pytest.raises(IndexIncompatible, match=r"has index format 5, this Accord reads formats 3, 4; rebuild"):
        read_manifest(index_dir)
