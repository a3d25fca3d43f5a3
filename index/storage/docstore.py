"""The article store: cleaned articles, their passage spans and the source files, in SQLite.

It is what `accord show` reads, what maps a faiss id back to its article and passage, and what
lets an update find what changed without re-reading the corpus: each source file is recorded
with its size, modification time and content hash, and each article with its content hash.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import IndexIncompatible
from index.text.articles import Article, Skipped
from index.text.passages import Passage

if TYPE_CHECKING:
    from index.text.defence_facts import DefenceFacts

_SCHEMA = """
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT NOT NULL, date TEXT, source TEXT,
    url TEXT, path TEXT NOT NULL, countries TEXT NOT NULL, content_hash TEXT NOT NULL,
    file TEXT NOT NULL, dup_group TEXT, signature BLOB NOT NULL,
    title_derived INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS articles_by_file ON articles (file);
CREATE INDEX IF NOT EXISTS articles_by_date ON articles (date);
CREATE INDEX IF NOT EXISTS articles_by_group ON articles (dup_group);
CREATE TABLE IF NOT EXISTS article_countries (article_id TEXT NOT NULL, country TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS countries_by_name ON article_countries (country);
CREATE INDEX IF NOT EXISTS countries_by_article ON article_countries (article_id);
CREATE TABLE IF NOT EXISTS bands (band INTEGER NOT NULL, bucket INTEGER NOT NULL, article_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS bands_by_bucket ON bands (band, bucket);
CREATE INDEX IF NOT EXISTS bands_by_article ON bands (article_id);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY, article_id TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_by_article ON passages (article_id);
CREATE TABLE IF NOT EXISTS article_facts (article_id TEXT PRIMARY KEY, facts TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS article_entities (article_id TEXT NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS entities_by_name ON article_entities (type, name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS entities_by_article ON article_entities (article_id);
CREATE TABLE IF NOT EXISTS article_transfers (
    article_id TEXT NOT NULL, supplier TEXT NOT NULL, recipient TEXT NOT NULL, system TEXT
);
CREATE INDEX IF NOT EXISTS transfers_by_article ON article_transfers (article_id);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
    skipped TEXT NOT NULL
);
"""
_ARTICLE_COLUMNS = "id, title, body, date, source, url, path, countries, title_derived"


def _article(row: tuple) -> Article:
    article_id, title, body, date, source, url, path, countries, title_derived = row
    return Article(
        article_id, title, body, date, source, url, path,
        countries=tuple(json.loads(countries)), title_derived=bool(title_derived),
    )


# What an entity filter matches in article_entities.type: the facts' systems, organisations,
# people, and kinds of cooperation.
ENTITY_TYPES = ("system", "organisation", "person", "kind")
_NO_FACTS = (
    "{where} was built before Accord stored defence facts; run 'accord index' once to add them "
    "(only the facts are extracted: nothing is re-embedded)"
)


def facts_to_json(facts: DefenceFacts) -> str:
    """The stored form of an article's facts (asdict, as JSON)."""
    return json.dumps(asdict(facts), ensure_ascii=False)


def facts_from_json(text: str | dict) -> DefenceFacts:
    """DefenceFacts from their stored form (JSON text, or the dict PostgreSQL's jsonb gives)."""
    # Imported here: a search that never shows facts never loads their types.
    from index.text.defence_facts import DefenceFacts, Organisation, Person, Span, System, Transfer

    data = json.loads(text) if isinstance(text, str) else text

    def spans(items: list) -> tuple[Span, ...]:
        return tuple(Span(**s) for s in items)

    return DefenceFacts(
        tuple(System(**{**s, "mentions": spans(s["mentions"])}) for s in data["systems"]),
        tuple(Organisation(**{**o, "mentions": spans(o["mentions"])}) for o in data["organisations"]),
        tuple(Person(**{**p, "mentions": spans(p["mentions"])}) for p in data["people"]),
        tuple(data["kinds"]),
        tuple(Transfer(**{**t, "evidence": Span(**t["evidence"])}) for t in data["transfers"]),
    )


def entity_rows(facts: DefenceFacts) -> list[tuple[str, str]]:
    """(type, name) of each distinct thing an entity filter can ask for in these facts."""
    rows = [("system", s.name) for s in facts.systems] + [("organisation", o.name) for o in facts.organisations]
    rows += [("person", p.name) for p in facts.people] + [("kind", k) for k in facts.kinds]
    return list(dict.fromkeys(rows))


@dataclass(frozen=True)
class StoredPassage:
    """A passage as stored: its vector id, its article and its span of the body."""

    id: int
    article_id: str
    start: int
    end: int


@dataclass(frozen=True)
class FileRecord:
    """A source file as last indexed, and the inputs in it that were skipped."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    skipped: list[Skipped]


def _chunks(items: Sequence, size: int = 500):
    # SQLite limits the number of bound parameters in one statement.
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class DocStore:
    """Read access to an index's articles, passages and source files.

    Safe to share between threads: each thread reads through its own read-only SQLite
    connection, opened on its first call (a connection must not be used by two threads at
    once). `close` closes them all; call it only when no thread is still reading.
    """

    def __init__(self, path: Path) -> None:
        self._uri = f"file:{path}?mode=ro"
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    @property
    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def close(self) -> None:
        """Close every thread's connection."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        row = self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _article(row) if row else None

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The articles among `article_ids`, by id."""
        found: dict[str, Article] = {}
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id IN ({marks})", chunk
            ):
                found[row[0]] = _article(row)
        return found

    def dates(self, article_ids: Sequence[str]) -> dict[str, str | None]:
        """The date of each of these articles, by id (None when undated)."""
        found: dict[str, str | None] = {}
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, date FROM articles WHERE id IN ({marks})", chunk))
        return found

    def passages_of(self, article_id: str) -> list[StoredPassage]:
        """The passages of one article, in body order."""
        rows = self._db.execute(
            "SELECT id, article_id, start, end FROM passages WHERE article_id = ? ORDER BY start, id",
            (article_id,),
        )
        return [StoredPassage(*r) for r in rows]

    def passage_articles(self, ids: Sequence[int]) -> dict[int, str]:
        """The article id of each of these passages, by passage id."""
        found: dict[int, str] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, article_id FROM passages WHERE id IN ({marks})", chunk))
        return found

    def passage_ids(self) -> set[int]:
        """Every passage id."""
        return {r[0] for r in self._db.execute("SELECT id FROM passages")}

    def article_ids(self) -> set[str]:
        """Every article id."""
        return {r[0] for r in self._db.execute("SELECT id FROM articles")}

    def content_hashes(self) -> dict[str, tuple[str, str]]:
        """Every article id with its (content hash, source file)."""
        return {r[0]: (r[1], r[2]) for r in self._db.execute("SELECT id, content_hash, file FROM articles")}

    def files(self) -> dict[str, FileRecord]:
        """Every source file as last indexed, by path."""
        return {
            r[0]: FileRecord(r[0], r[1], r[2], r[3], [Skipped(*s) for s in json.loads(r[4])])
            for r in self._db.execute("SELECT path, size, mtime_ns, sha256, skipped FROM files")
        }

    def articles_in_countries(self, countries: Sequence[str]) -> set[str]:
        """Ids of the articles that mention any of `countries` (canonical names)."""
        found: set[str] = set()
        names = list(countries)
        for i in range(0, len(names), 500):
            chunk = names[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self._db.execute(
                f"SELECT DISTINCT article_id FROM article_countries WHERE country IN ({marks})", chunk))
        return found

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
        and whose defence facts name all `systems`, `organisations` and `kinds` (as stored) and
        all `people` (a full name or a surname, case-insensitive).

        Raises IndexIncompatible when an entity filter is asked of an index built before the
        facts were stored."""
        clauses, params = [], []
        for country in countries:
            clauses.append("id IN (SELECT article_id FROM article_countries WHERE country = ?)")
            params.append(country)
        for kind, names in (("system", systems), ("organisation", organisations), ("kind", kinds)):
            for name in names:
                clauses.append("id IN (SELECT article_id FROM article_entities WHERE type = ? AND name = ? COLLATE NOCASE)")
                params += [kind, name]
        for person in people:
            # A surname alone matches the full name's last word.
            clauses.append(
                "id IN (SELECT article_id FROM article_entities WHERE type = 'person' AND "
                "(lower(name) = lower(?) OR substr(lower(name), -length(?) - 1) = ' ' || lower(?)))"
            )
            params += [person, person, person]
        if (systems or organisations or people or kinds) and not self.has_facts():
            raise IndexIncompatible(_NO_FACTS.format(where="this index"))
        if sources:
            clauses.append(f"lower(source) IN ({','.join('?' * len(sources))})")
            params += [s.lower() for s in sources]
        if since:
            clauses.append("date >= ?")
            params.append(since)
        if until:
            clauses.append("date <= ?")
            params.append(until)
        where = " AND ".join(clauses) or "1"
        return {r[0] for r in self._db.execute(f"SELECT id FROM articles WHERE {where}", params)}

    def has_facts(self) -> bool:
        """True when the store has the defence-fact tables (indexes built before them do not)."""
        return self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'article_facts'").fetchone() is not None

    def facts(self, article_id: str) -> DefenceFacts | None:
        """The defence facts stored for an article (spans into its title, a line break, its
        body), or None when it has none stored (an unknown id, an index built before them)."""
        if not self.has_facts():
            return None
        row = self._db.execute("SELECT facts FROM article_facts WHERE article_id = ?", (article_id,)).fetchone()
        return facts_from_json(row[0]) if row else None

    def transfers(self, article_ids: Sequence[str]) -> dict[str, list[tuple[str, str, str | None]]]:
        """The (supplier, recipient, system) transfers stored for each of these articles."""
        found: dict[str, list[tuple[str, str, str | None]]] = {}
        if not self.has_facts():
            return found
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            for article_id, supplier, recipient, system in self._db.execute(
                f"SELECT article_id, supplier, recipient, system FROM article_transfers WHERE article_id IN ({marks})",
                chunk,
            ):
                found.setdefault(article_id, []).append((supplier, recipient, system))
        return found

    def entity_counts(self, article_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """For each entity type (system, organisation, person, kind), how many of these articles
        name each thing in their stored facts; empty counts for an index built before them."""
        found: dict[str, dict[str, int]] = {kind: {} for kind in ENTITY_TYPES}
        if not self.has_facts():
            return found
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            # entity_rows stores each (type, name) once per article, so COUNT(*) counts articles.
            for kind, name, count in self._db.execute(
                f"SELECT type, name, COUNT(*) FROM article_entities WHERE article_id IN ({marks}) GROUP BY type, name",
                chunk,
            ):
                counts = found.setdefault(kind, {})
                counts[name] = counts.get(name, 0) + count
        return found

    def articles_without_facts(self) -> list[str]:
        """Ids of the articles with no stored facts (those of an index built before them)."""
        return [r[0] for r in self._db.execute(
            "SELECT id FROM articles WHERE id NOT IN (SELECT article_id FROM article_facts) ORDER BY id")]

    def passage_ids_of(self, article_ids: Sequence[str]) -> list[int]:
        """The passage ids of these articles."""
        found: list[int] = []
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            found += [r[0] for r in self._db.execute(f"SELECT id FROM passages WHERE article_id IN ({marks})", chunk)]
        return found

    def signature(self, article_id: str) -> bytes | None:
        """An article's near-duplicate signature, as stored."""
        row = self._db.execute("SELECT signature FROM articles WHERE id = ?", (article_id,)).fetchone()
        return row[0] if row else None

    def band_candidates(self, article_id: str) -> dict[str, bytes]:
        """Articles sharing a signature band with this one, with their signatures."""
        return dict(self._db.execute(
            "SELECT DISTINCT a.id, a.signature FROM bands AS mine "
            "JOIN bands AS other ON other.band = mine.band AND other.bucket = mine.bucket "
            "JOIN articles AS a ON a.id = other.article_id "
            "WHERE mine.article_id = ? AND other.article_id != ?",
            (article_id, article_id),
        ))

    def duplicate_groups(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The duplicate group of each of these articles."""
        found: dict[str, str] = {}
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, coalesce(dup_group, id) FROM articles WHERE id IN ({marks})", chunk))
        return found

    def group_members(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """The articles in each of these duplicate groups, by id."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(groups):
            marks = ",".join("?" * len(chunk))
            for article_id, group in self._db.execute(
                f"SELECT id, dup_group FROM articles WHERE dup_group IN ({marks}) ORDER BY id", chunk
            ):
                found.setdefault(group, []).append(article_id)
        return found

    def count_articles(self) -> int:
        """Number of articles."""
        return self._db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]

    def count_passages(self) -> int:
        """Number of passages."""
        return self._db.execute("SELECT COUNT(*) FROM passages").fetchone()[0]


class DocStoreWriter(DocStore):
    """Changes to a docstore (a fresh file, or a copy of the live generation's); `commit` ends them.

    One connection, for the one thread that writes.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._writer = sqlite3.connect(f"file:{path}?mode=rwc", uri=True)
        self._writer.executescript(_SCHEMA)

    @property
    def _db(self) -> sqlite3.Connection:
        return self._writer

    def close(self) -> None:
        """Close the database."""
        self._writer.close()

    def commit(self) -> None:
        """Make the changes durable."""
        self._db.commit()

    def delete_articles(self, article_ids: Sequence[str]) -> list[int]:
        """Delete articles and their passages; returns the deleted passages' ids."""
        removed: list[int] = []
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            removed += [r[0] for r in self._db.execute(f"SELECT id FROM passages WHERE article_id IN ({marks})", chunk)]
            self._db.execute(f"DELETE FROM passages WHERE article_id IN ({marks})", chunk)
            self._db.execute(f"DELETE FROM article_countries WHERE article_id IN ({marks})", chunk)
            self._db.execute(f"DELETE FROM bands WHERE article_id IN ({marks})", chunk)
            for table in ("article_facts", "article_entities", "article_transfers"):
                self._db.execute(f"DELETE FROM {table} WHERE article_id IN ({marks})", chunk)
            self._db.execute(f"DELETE FROM articles WHERE id IN ({marks})", chunk)
        return removed

    def add_article(
        self, article: Article, file: str, passages: Sequence[Passage], signature: bytes, bands: Sequence[tuple[int, int]]
    ) -> list[int]:
        """Insert an article, its countries, duplicate-signature bands and passages; returns the
        passages' (vector) ids."""
        a = article
        self._db.execute(
            "INSERT INTO articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (a.id, a.title, a.body, a.date, a.source, a.url, a.path, json.dumps(list(a.countries)),
             a.content_hash, file, signature, int(a.title_derived)),
        )
        self._db.executemany("INSERT INTO article_countries VALUES (?, ?)", [(a.id, c) for c in a.countries])
        self._db.executemany("INSERT INTO bands VALUES (?, ?, ?)", [(band, bucket, a.id) for band, bucket in bands])
        ids = []
        for p in passages:
            cursor = self._db.execute(
                "INSERT INTO passages (article_id, start, end) VALUES (?, ?, ?)", (a.id, p.start, p.end)
            )
            ids.append(int(cursor.lastrowid or 0))  # always set after an INSERT
        return ids

    def put_facts(self, article_id: str, facts: DefenceFacts) -> None:
        """Store an article's defence facts (replacing any it had)."""
        for table in ("article_facts", "article_entities", "article_transfers"):
            self._db.execute(f"DELETE FROM {table} WHERE article_id = ?", (article_id,))
        self._db.execute("INSERT INTO article_facts VALUES (?, ?)", (article_id, facts_to_json(facts)))
        self._db.executemany(
            "INSERT INTO article_entities VALUES (?, ?, ?)", [(article_id, t, n) for t, n in entity_rows(facts)])
        self._db.executemany(
            "INSERT INTO article_transfers VALUES (?, ?, ?, ?)",
            [(article_id, t.supplier, t.recipient, t.system) for t in facts.transfers],
        )

    def set_duplicate_group(self, members: set[str]) -> None:
        """Record a group of near-duplicates, named by its smallest id (a lone article: no group)."""
        group = min(members) if len(members) > 1 else None
        for chunk in _chunks(sorted(members)):
            self._db.execute(
                f"UPDATE articles SET dup_group = ? WHERE id IN ({','.join('?' * len(chunk))})", [group, *chunk]
            )

    def put_file(self, record: FileRecord) -> None:
        """Record a source file as indexed now."""
        skipped = json.dumps([[s.path, s.reason] for s in record.skipped])
        self._db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)",
            (record.path, record.size, record.mtime_ns, record.sha256, skipped),
        )

    def delete_files(self, paths: Sequence[str]) -> None:
        """Forget source files that are gone."""
        for chunk in _chunks(paths):
            self._db.execute(f"DELETE FROM files WHERE path IN ({','.join('?' * len(chunk))})", chunk)
