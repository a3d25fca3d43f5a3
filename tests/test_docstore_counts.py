"""A reader counts a store's articles and passages once: a generation written before segments
(no counts to give) was counted with COUNT(*) on every warm search, which asks for the number
of articles each time (search/engine.py, the query words' idf). A reader's segments never
change, so the count holds for as long as it does."""

from __future__ import annotations

from pathlib import Path

from index.storage.docstore import DocStore
from index.storage.layout import docstore_file
from index.storage.manifest import read_manifest


def test_a_reader_without_counts_counts_once(built_index: Path) -> None:
    generation = built_index / read_manifest(built_index).generation
    docs = DocStore(generation / docstore_file(""))  # what a generation without segments.json opens
    try:
        statements: list[str] = []
        docs._db.set_trace_callback(statements.append)
        articles, passages = docs.count_articles(), docs.count_passages()
        assert articles == len(docs.article_ids()) == 4 and passages == len(docs.passage_ids()) >= articles
        counted = [s for s in statements if "COUNT(*)" in s.upper()]
        assert len(counted) == 2  # one for each table
        for _ in range(3):
            assert (docs.count_articles(), docs.count_passages()) == (articles, passages)
        assert [s for s in statements if "COUNT(*)" in s.upper()] == counted
    finally:
        docs.close()


def test_given_counts_are_not_counted(built_index: Path) -> None:
    generation = built_index / read_manifest(built_index).generation
    docs = DocStore(generation / docstore_file(""), counts=(7, 9))
    try:
        statements: list[str] = []
        docs._db.set_trace_callback(statements.append)
        assert (docs.count_articles(), docs.count_passages()) == (7, 9)
        assert not [s for s in statements if "COUNT(*)" in s.upper()]
    finally:
        docs.close()
