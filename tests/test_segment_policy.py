"""The keyword index's segment policy: a small update never rewrites the large segment a build
left, the segment count stays small, and deletions are purged from the segment they hit."""

from __future__ import annotations

from pathlib import Path

from whoosh import index as whoosh_index

from index.storage.keyword import MAX_SEGMENTS, KeywordWriter, WhooshKeywordStore
from index.text.articles import Article
from search.query import parse_query


def _article(number: int) -> Article:
    return Article(id=f"a{number:04d}", title=f"Story {number}", body=f"Navies meet for exercise {number % 13} in port {number % 7}.",
                   date=None, source=None, url=None, path="t.jsonl")


def _add(directory: Path, numbers: range) -> None:
    writer = KeywordWriter(directory, title_boost=2.0)
    for number in numbers:
        writer.add(_article(number))
    writer.commit()


def _segments(directory: Path) -> dict[str, int]:
    """Segment id -> documents (deleted ones included)."""
    ix = whoosh_index.open_dir(str(directory))
    return {seg.segment_id(): seg.doc_count_all() for seg in ix._segments()}


def test_small_updates_never_rewrite_the_large_segment(tmp_path: Path) -> None:
    _add(tmp_path, range(0, 600))
    (large,) = _segments(tmp_path)
    for update in range(12):  # past the old policy's four segments, which rewrote everything
        _add(tmp_path, range(600 + update * 10, 610 + update * 10))
        segments = _segments(tmp_path)
        assert segments[large] == 600, update
        assert len(segments) <= MAX_SEGMENTS
    store = WhooshKeywordStore(tmp_path)
    try:
        assert len(store.matching(parse_query("navies").keyword)) == 720
    finally:
        store.close()


def test_equal_build_batches_end_in_few_segments(tmp_path: Path) -> None:
    for batch in range(8):
        _add(tmp_path, range(batch * 100, batch * 100 + 100))
        assert len(_segments(tmp_path)) <= 2


def test_a_segment_with_many_deletions_is_rewritten_without_them_and_alone(tmp_path: Path) -> None:
    _add(tmp_path, range(0, 600))
    (large,) = _segments(tmp_path)
    _add(tmp_path, range(600, 700))
    writer = KeywordWriter(tmp_path, title_boost=2.0)
    # 30 of the small segment's 100: under a tenth of the index, but most of that segment.
    writer.delete(f"a{n:04d}" for n in range(600, 630))
    writer.add(_article(5000))
    writer.commit()
    ix = whoosh_index.open_dir(str(tmp_path))
    assert ix.doc_count() == ix.doc_count_all() == 671
    assert _segments(tmp_path)[large] == 600


def _live_segments(index_dir: Path) -> dict[str, int]:
    from index.storage.manifest import read_manifest

    return _segments(index_dir / read_manifest(index_dir).generation / "keyword")


def _write_source(folder: Path, numbers: range) -> None:
    import json

    folder.mkdir(exist_ok=True)
    lines = [json.dumps({"id": f"a{n:04d}", "title": f"Story {n}", "body": f"Navies meet for exercise {n % 13} in port {n % 7}."})
             for n in numbers]
    (folder / f"from-{numbers.start}.jsonl").write_text("\n".join(lines) + "\n")


def test_a_build_in_many_batches_ends_in_one_segment_and_updates_keep_it(tmp_path: Path) -> None:
    from index.pipeline.builder import build
    from tests.conftest import HashingEncoder

    source, index_dir = tmp_path / "src", tmp_path / "ix"
    _write_source(source, range(0, 600))
    # Six equal batches: the size tiers alone leave the first five merged and the sixth apart.
    report = build([source], index_dir, encoder=HashingEncoder(), commit_every=100)
    assert report.generations == 6
    (large,) = _live_segments(index_dir)
    assert _live_segments(index_dir)[large] == 600
    # An update of three batches merges what it wrote and leaves the build's segment as it is.
    _write_source(source, range(600, 630))
    assert build([], index_dir, encoder=HashingEncoder(), commit_every=10).generations == 3
    segments = _live_segments(index_dir)
    assert segments[large] == 600
    assert sorted(segments.values()) == [30, 600]
    # A 10-article update: one batch, the large segment untouched again.
    _write_source(source, range(630, 640))
    build([], index_dir, encoder=HashingEncoder())
    segments = _live_segments(index_dir)
    assert segments[large] == 600 and sum(segments.values()) == 640


def test_an_update_shares_the_unchanged_segment_files_and_leaves_the_old_generation_whole(tmp_path: Path) -> None:
    from index.pipeline.builder import build
    from index.storage.manifest import read_manifest
    from tests.conftest import HashingEncoder

    source, index_dir = tmp_path / "src", tmp_path / "ix"
    _write_source(source, range(0, 300))
    build([source], index_dir, encoder=HashingEncoder())
    old = index_dir / read_manifest(index_dir).generation / "keyword"
    (large,) = _segments(old)
    # The update adds ten articles and deletes one of the build's (its file is rewritten).
    _write_source(source, range(300, 310))
    _write_source(source, range(0, 299))
    build([], index_dir, encoder=HashingEncoder())
    new = index_dir / read_manifest(index_dir).generation / "keyword"
    assert new != old and old.is_dir()  # the previous generation is kept for its readers
    (shared,) = [p.name for p in old.glob("*.seg")]
    assert (new / shared).stat().st_ino == (old / shared).stat().st_ino  # linked, not copied
    assert _segments(new)[large] == 300
    for folder, count in ((old, 300), (new, 309)):
        store = WhooshKeywordStore(folder)
        try:
            assert len(store.matching(parse_query("navies").keyword)) == count
        finally:
            store.close()
