"""The article store in PostgreSQL: the same methods as the SQLite `DocStore`/`DocStoreWriter`.

A store object wraps one connection and is used by one search or one writer at a time (the
connection is the caller's: it opens and ends the transaction the store reads or writes in).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.storage.docstore import ENTITY_TYPES, FileRecord, StoredPassage, entity_rows, facts_from_json, facts_to_json
from index.text.articles import Article, Skipped
from index.text.defence_facts import DefenceFacts
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

    def passages_by_article(self, article_ids: Sequence[str]) -> dict[str, list[StoredPassage]]:
        """The passages of each of these articles, in body order, by article (an article
        without passages, or not held, is left out)."""
        found: dict[str, list[StoredPassage]] = {}
        for row in self._rows(
            'SELECT id, article_id, start, "end" FROM accord.passages WHERE article_id = ANY(%s) ORDER BY article_id, start, id',
            (list(article_ids),),
        ):
            found.setdefault(row[1], []).append(StoredPassage(*row))
        return found

    def passage_ids_by_article(self, article_ids: Sequence[str]) -> dict[str, list[int]]:
        """Each of these articles' passage ids, in body order (an article without passages left out)."""
        return {article_id: [p.id for p in passages] for article_id, passages in self.passages_by_article(article_ids).items()}

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

    def content_hashes_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(content hash, source file) of each of these articles that the store holds."""
        rows = self._rows("SELECT id, content_hash, file FROM accord.articles WHERE id = ANY(%s)", (list(article_ids),))
        return {row[0]: (row[1], row[2]) for row in rows}

    def content_hashes_in(self, files: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(content hash, source file) of every article from these source files, by id."""
        rows = self._rows("SELECT id, content_hash, file FROM accord.articles WHERE file = ANY(%s)", (list(files),))
        return {row[0]: (row[1], row[2]) for row in rows}

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
        *,
        systems: Sequence[str] = (),
        organisations: Sequence[str] = (),
        people: Sequence[str] = (),
        kinds: Sequence[str] = (),
    ) -> set[str]:
        """Ids of the articles that mention all `countries`, come from any of `sources`
        (case-insensitive) and are dated within [since, until] (undated articles fail a date bound),
        and whose defence facts name all `systems`, `organisations`, `kinds` and `people` (as
        the SQLite store: a person by full name or surname, case-insensitive)."""
        where, params = article_filter(countries, sources, since, until)
        entities, more = entity_filter(systems, organisations, people, kinds)
        return {row[0] for row in self._rows(
            f"SELECT id FROM accord.articles AS a WHERE {where} AND {entities}", params + more)}

    def facts(self, article_id: str) -> DefenceFacts | None:
        """The defence facts stored for an article, or None when it has none stored."""
        rows = self._rows("SELECT facts FROM accord.article_facts WHERE article_id = %s", (article_id,))
        return facts_from_json(rows[0][0]) if rows else None

    def transfers(self, article_ids: Sequence[str]) -> dict[str, list[tuple[str, str, str | None]]]:
        """The (supplier, recipient, system) transfers stored for each of these articles."""
        found: dict[str, list[tuple[str, str, str | None]]] = {}
        for article_id, supplier, recipient, system in self._rows(
            "SELECT article_id, supplier, recipient, system FROM accord.article_transfers WHERE article_id = ANY(%s)",
            (list(article_ids),),
        ):
            found.setdefault(article_id, []).append((supplier, recipient, system))
        return found

    def entity_counts(self, article_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each entity type (system, organisation, person, kind), how many of these articles
        name each thing in their stored facts."""
        found: dict[str, dict[str, int]] = {kind: {} for kind in ENTITY_TYPES}
        # entity_rows stores each (type, name) once per article, so count(*) counts articles.
        for kind, name, count in self._rows(
            "SELECT type, name, count(*) FROM accord.article_entities WHERE article_id = ANY(%s) GROUP BY type, name",
            (list(article_ids),),
        ):
            found.setdefault(kind, {})[name] = count
        return found

    def articles_without_facts(self) -> list[str]:
        """Ids of the articles with no stored facts (those stored before schema version 4)."""
        return [row[0] for row in self._rows(
            "SELECT id FROM accord.articles AS a WHERE NOT EXISTS "
            "(SELECT 1 FROM accord.article_facts AS f WHERE f.article_id = a.id) ORDER BY id")]

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
        """The duplicate group of each of these articles (one in no group of several is its
        own group, and so is an id the store does not hold)."""
        found = dict(self._rows("SELECT id, dup_group FROM accord.articles WHERE id = ANY(%s) AND dup_group IS NOT NULL",
                                (list(article_ids),)))
        return {article_id: found.get(article_id, article_id) for article_id in article_ids}

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

    def hold(self) -> None:
        """Nothing: a search reads through a connection of its own (one snapshot), and this
        reader lives for that search alone, so it keeps no rows between searches."""


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
        for table in ("article_facts", "article_entities", "article_transfers"):
            self._conn.execute(f"DELETE FROM accord.{table} WHERE article_id = ANY(%s)", (ids,))
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

    def put_facts(self, article_id: str, facts: DefenceFacts) -> None:
        """Store an article's defence facts (replacing any it had)."""
        for table in ("article_facts", "article_entities", "article_transfers"):
            self._conn.execute(f"DELETE FROM accord.{table} WHERE article_id = %s", (article_id,))
        self._conn.execute("INSERT INTO accord.article_facts VALUES (%s, %s::jsonb)", (article_id, facts_to_json(facts)))
        with self._conn.cursor() as cursor:
            rows = entity_rows(facts)
            if rows:
                cursor.executemany("INSERT INTO accord.article_entities VALUES (%s, %s, %s)",
                                   [(article_id, t, n) for t, n in rows])
            if facts.transfers:
                cursor.executemany("INSERT INTO accord.article_transfers VALUES (%s, %s, %s, %s)",
                                   [(article_id, t.supplier, t.recipient, t.system) for t in facts.transfers])

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


def entity_filter(
    systems: Sequence[str] = (), organisations: Sequence[str] = (), people: Sequence[str] = (),
    kinds: Sequence[str] = (), alias: str = "a",
) -> tuple[str, list]:
    """A WHERE condition on `accord.articles AS {alias}` requiring every named system,
    organisation and kind (case-insensitive) and every person (full name or surname) among the
    article's stored defence facts, with its parameters."""
    clauses = ["true"]
    params: list = []
    for kind, names in (("system", systems), ("organisation", organisations), ("kind", kinds)):
        for name in names:
            clauses.append(f"EXISTS (SELECT 1 FROM accord.article_entities AS e WHERE e.article_id = {alias}.id "
                           "AND e.type = %s AND lower(e.name) = lower(%s))")
            params += [kind, name]
    for person in people:
        # A surname alone matches the full name's last word.
        clauses.append(f"EXISTS (SELECT 1 FROM accord.article_entities AS e WHERE e.article_id = {alias}.id "
                       "AND e.type = 'person' AND (lower(e.name) = lower(%s) OR right(lower(e.name), length(%s) + 1) "
                       "= ' ' || lower(%s)))")
        params += [person, person, person]
    return " AND ".join(clauses), params
