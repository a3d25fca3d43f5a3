"""The article store: cleaned articles and their passage spans, in one SQLite file per index.

It is what `accord show` reads, what maps a faiss row back to its article and passage, and what
lets an update see which articles changed (by content hash) without re-reading the corpus.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from index.articles import Article
from index.passages import Passage

_SCHEMA = """
CREATE TABLE articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, date TEXT, source TEXT,
    url TEXT, path TEXT NOT NULL, content_hash TEXT NOT NULL
);
CREATE TABLE passages (
    row INTEGER PRIMARY KEY, article_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE INDEX passages_by_article ON passages (article_id);
"""
_ARTICLE_COLUMNS = "id, title, body, date, source, url, path"


@dataclass(frozen=True)
class StoredPassage:
    """A passage as stored: its faiss row, its article and its span of the body."""

    row: int
    article_id: str
    start: int
    end: int


def write_docstore(
    path: Path, articles: Sequence[Article], passages: Iterable[Sequence[Passage]]
) -> None:
    """Write articles and their passages; passage rows are numbered in order from 0."""
    db = sqlite3.connect(path)
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(a.id, a.title, a.body, a.date, a.source, a.url, a.path, a.content_hash) for a in articles],
        )
        # Row numbers are faiss positions: counted from 0 in article, then body, order.
        spans = ((article.id, p) for article, ps in zip(articles, passages) for p in ps)
        rows = ((row, article_id, p.start, p.end) for row, (article_id, p) in enumerate(spans))
        db.executemany("INSERT INTO passages VALUES (?, ?, ?, ?)", rows)
        db.commit()
    finally:
        db.close()


class DocStore:
    """Read access to an index's articles and passages."""

    def __init__(self, path: Path) -> None:
        # Opened read-only: the query side never changes an index.
        self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        row = self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return Article(*row) if row else None

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The articles among `article_ids`, by id."""
        found: dict[str, Article] = {}
        for i in range(0, len(article_ids), 500):
            chunk = list(article_ids[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = Article(*row)
        return found

    def passages_of(self, article_id: str) -> list[StoredPassage]:
        """The passages of one article, in body order."""
        rows = self._db.execute(
            "SELECT row, article_id, start, end FROM passages WHERE article_id = ? ORDER BY row",
            (article_id,),
        )
        return [StoredPassage(*r) for r in rows]

    def passages_at(self, rows: Sequence[int]) -> dict[int, StoredPassage]:
        """Passages by faiss row."""
        found: dict[int, StoredPassage] = {}
        for i in range(0, len(rows), 500):
            chunk = list(rows[i : i + 500])
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(
                f"SELECT row, article_id, start, end FROM passages WHERE row IN ({marks})", chunk
            ):
                found[r[0]] = StoredPassage(*r)
        return found

    def content_hashes(self) -> dict[str, str]:
        """Every article id with its content hash."""
        return dict(self._db.execute("SELECT id, content_hash FROM articles"))

    def count_articles(self) -> int:
        """Number of articles."""
        return self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]

    def count_passages(self) -> int:
        """Number of passages."""
        return self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]
