"""The article store in PostgreSQL: the same methods as the SQLite `DocStore`/`DocStoreWriter`.

A store object wraps one connection and is used by one search or one writer at a time (the
connection is the caller's: it opens and ends the transaction the store reads or writes in).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.storage.docstore import FileRecord, StoredPassage
from index.text.articles import Article, Skipped
from index.text.passages import Passage

if TYPE_CHECKING:
    import psycopg

_ARTICLE_COLUMNS = "id, title, body, date, source, url, path, countries, title_derived"


def _article(row: tuple) -> Article:
    article_id, title, body, date, source, url, path, countries, title_derived = row
    return Article(
        article_id, title, body, date, source, url, path, countries=tuple(countries), title_derived=bool(title_derived)
    )


class PgDocStore:
    """Read access to the articles, passages and source files of a PostgreSQL store."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def close(self) -> None:
        """Nothing to release: the connection belongs to the caller."""

    def _rows(self, query: str, params: Sequence | None = None) -> list[tuple]:
        return self._conn.execute(query, params).fetchall()

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        rows = self._rows(f"SELECT {_ARTICLE_COLUMNS} FROM accord.articles WHERE id = %s", (article_id,))
        return _article(rows[0]) if rows else None

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The articles among `article_ids`, by id."""
        rows = self._rows(f"SELECT {_ARTICLE_COLUMNS} FROM accord.articles WHERE id = ANY(%s)", (list(article_ids),))
        return {row[0]: _article(row) for row in rows}

    def dates(self, article_ids: Sequence[str]) -> dict[str, str | None]:
        """The date of each of these articles, by id (None when undated)."""
        return dict(self._rows("SELECT id, date FROM accord.articles WHERE id = ANY(%s)", (list(article_ids),)))

    def passages_of(self, article_id: str) -> list[StoredPassage]:
        """The passages of one article, in body order."""
        rows = self._rows(
            'SELECT id, article_id, start, "end" FROM accord.passages WHERE article_id = %s ORDER BY start, id',
            (article_id,),
        )
        return [StoredPassage(*row) for row in rows]

    def passage_articles(self, ids: Sequence[int]) -> dict[int, str]:
        """The article id of each of these passages, by passage id."""
        return dict(self._rows("SELECT id, article_id FROM accord.passages WHERE id = ANY(%s)", ([int(i) for i in ids],)))

    def passage_ids(self) -> set[int]:
        """Every passage id."""
        return {row[0] for row in self._rows("SELECT id FROM accord.passages")}

    def article_ids(self) -> set[str]:
        """Every article id."""
        return {row[0] for row in self._rows("SELECT id FROM accord.articles")}

    def content_hashes(self) -> dict[str, tuple[str, str]]:
        """Every article id with its (content hash, source file)."""
        return {row[0]: (row[1], row[2]) for row in self._rows("SELECT id, content_hash, file FROM accord.articles")}

    def files(self) -> dict[str, FileRecord]:
        """Every source file as last indexed, by path."""
        return {
            path: FileRecord(path, size, mtime_ns, sha256, [Skipped(*s) for s in skipped])
            for path, size, mtime_ns, sha256, skipped in self._rows(
                "SELECT path, size, mtime_ns, sha256, skipped FROM accord.files"
            )
        }

    def articles_in_countries(self, countries: Sequence[str]) -> set[str]:
        """Ids of the articles that mention any of `countries` (canonical names)."""
        return {row[0] for row in self._rows("SELECT id FROM accord.articles WHERE countries && %s", (list(countries),))}

    def filtered_article_ids(
        self,
        countries: Sequence[str] = (),
        sources: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> set[str]:
        """Ids of the articles that mention all `countries`, come from any of `sources`
        (case-insensitive) and are dated within [since, until] (undated articles fail a date bound)."""
        where, params = article_filter(countries, sources, since, until)
        return {row[0] for row in self._rows(f"SELECT id FROM accord.articles AS a WHERE {where}", params)}

    def passage_ids_of(self, article_ids: Sequence[str]) -> list[int]:
        """The passage ids of these articles."""
        return [row[0] for row in self._rows("SELECT id FROM accord.passages WHERE article_id = ANY(%s)", (list(article_ids),))]

    def signature(self, article_id: str) -> bytes | None:
        """An article's near-duplicate signature, as stored."""
        rows = self._rows("SELECT signature FROM accord.articles WHERE id = %s", (article_id,))
        return bytes(rows[0][0]) if rows else None

    def band_candidates(self, article_id: str) -> dict[str, bytes]:
        """Articles sharing a signature band with this one, with their signatures."""
        rows = self._rows(
            "SELECT DISTINCT a.id, a.signature FROM accord.bands AS mine "
            "JOIN accord.bands AS other ON other.band = mine.band AND other.bucket = mine.bucket "
            "JOIN accord.articles AS a ON a.id = other.article_id "
            "WHERE mine.article_id = %s AND other.article_id <> %s",
            (article_id, article_id),
        )
        return {row[0]: bytes(row[1]) for row in rows}

    def duplicate_groups(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The duplicate group of each of these articles."""
        return dict(self._rows("SELECT id, coalesce(dup_group, id) FROM accord.articles WHERE id = ANY(%s)", (list(article_ids),)))

    def group_members(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """The articles in each of these duplicate groups, by id."""
        found: dict[str, list[str]] = {}
        for article_id, group in self._rows(
            "SELECT id, dup_group FROM accord.articles WHERE dup_group = ANY(%s) ORDER BY id", (list(groups),)
        ):
            found.setdefault(group, []).append(article_id)
        return found

    def count_articles(self) -> int:
        """Number of articles."""
        return int(self._rows("SELECT count(*) FROM accord.articles")[0][0])

    def count_passages(self) -> int:
        """Number of passages."""
        return int(self._rows("SELECT count(*) FROM accord.passages")[0][0])


class PgDocStoreWriter(PgDocStore):
    """Changes to the article store inside the caller's open transaction (the write transaction
    commits or rolls them back with the other stores' changes)."""

    def commit(self) -> None:
        """Nothing to flush: every change is written as it is made; the transaction commits."""

    def delete_articles(self, article_ids: Sequence[str]) -> list[int]:
        """Delete articles and their passages; returns the deleted passages' ids."""
        ids = list(article_ids)
        removed = [row[0] for row in self._rows("DELETE FROM accord.passages WHERE article_id = ANY(%s) RETURNING id", (ids,))]
        self._conn.execute("DELETE FROM accord.bands WHERE article_id = ANY(%s)", (ids,))
        self._conn.execute("DELETE FROM accord.articles WHERE id = ANY(%s)", (ids,))
        return removed

    def add_article(
        self, article: Article, file: str, passages: Sequence[Passage], signature: bytes, bands: Sequence[tuple[int, int]]
    ) -> list[int]:
        """Insert an article, its duplicate-signature bands and passages; returns the passages'
        (vector) ids."""
        a = article
        self._conn.execute(
            "INSERT INTO accord.articles (id, title, body, date, source, url, path, countries, content_hash, file, "
            "signature, title_derived) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (a.id, a.title, a.body, a.date, a.source, a.url, a.path, list(a.countries), a.content_hash, file,
             signature, a.title_derived),
        )
        if bands:
            with self._conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO accord.bands VALUES (%s, %s, %s)", [(band, bucket, a.id) for band, bucket in bands]
                )
        if not passages:
            return []
        # Ids drawn from the column's sequence first, so the rows go in with one statement and
        # each passage knows its id without relying on the order RETURNING gives them.
        ids = [row[0] for row in self._rows(
            "SELECT nextval(pg_get_serial_sequence('accord.passages', 'id')) FROM generate_series(1, %s)", (len(passages),)
        )]
        self._conn.execute(
            'INSERT INTO accord.passages (id, article_id, start, "end") '
            "SELECT i, %s, s, e FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS t(i, s, e)",
            (a.id, ids, [p.start for p in passages], [p.end for p in passages]),
        )
        return [int(i) for i in ids]

    def set_duplicate_group(self, members: set[str]) -> None:
        """Record a group of near-duplicates, named by its smallest id (a lone article: no group)."""
        group = min(members) if len(members) > 1 else None
        self._conn.execute("UPDATE accord.articles SET dup_group = %s WHERE id = ANY(%s)", (group, sorted(members)))

    def put_file(self, record: FileRecord) -> None:
        """Record a source file as indexed now."""
        skipped = json.dumps([[s.path, s.reason] for s in record.skipped])
        self._conn.execute(
            "INSERT INTO accord.files VALUES (%s, %s, %s, %s, %s) ON CONFLICT (path) DO UPDATE SET "
            "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, skipped = excluded.skipped",
            (record.path, record.size, record.mtime_ns, record.sha256, skipped),
        )

    def delete_files(self, paths: Sequence[str]) -> None:
        """Forget source files that are gone."""
        self._conn.execute("DELETE FROM accord.files WHERE path = ANY(%s)", (list(paths),))


def article_filter(
    countries: Sequence[str] = (), sources: Sequence[str] = (), since: str | None = None, until: str | None = None,
    alias: str = "a",
) -> tuple[str, list]:
    """A WHERE condition on `accord.articles AS {alias}` for these filters, with its parameters
    (bound, never formatted in). Same rules as `Filters`: all countries, any source
    (case-insensitive), dates within [since, until], undated articles failing any date bound."""
    clauses = ["true"]
    params: list = []
    if countries:
        clauses.append(f"{alias}.countries @> %s")
        params.append(list(countries))
    if sources:
        clauses.append(f"lower({alias}.source) = ANY(%s)")
        params.append([s.lower() for s in sources])
    if since:
        clauses.append(f"{alias}.date >= %s")
        params.append(since)
    if until:
        clauses.append(f"{alias}.date <= %s")
        params.append(until)
    return " AND ".join(clauses), params
