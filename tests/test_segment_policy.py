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
