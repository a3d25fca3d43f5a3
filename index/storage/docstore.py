"""The article store: cleaned articles, their passage spans and the source files, in SQLite.

It is what `accord show` reads, what maps a faiss id back to its article and passage, and what
lets an update find what changed without re-reading the corpus: each source file is recorded
with its size, modification time and content hash, and each article with its content hash.

A generation's store is one or more segment files, oldest first (index/storage/segments.py).
A reader opens the oldest and attaches the others to the same connection, with a temporary
view per table that joins the segments' rows less those a newer segment removed (its tables
`removed_articles` and `removed_files`), so every query reads as over one store. A writer
writes a new segment the same way, over the older ones it leaves as they are.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeVar

from index.errors import IndexIncompatible
from index.text.articles import Article, Skipped
from index.text.passages import Passage

if TYPE_CHECKING:
    from index.storage.segments import DocSegment
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
CREATE TABLE IF NOT EXISTS removed_articles (id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS removed_files (path TEXT PRIMARY KEY);
"""
T = TypeVar("T")
_ARTICLE_COLUMNS = "id, title, body, date, source, url, path, countries, title_derived"
# Each table of a segment, with the column that names its article (or file) and the table of a
# newer segment that removes those rows from the older ones.
_ARTICLE_TABLES = {
    "articles": "id", "article_countries": "article_id", "bands": "article_id", "passages": "article_id",
    "article_facts": "article_id", "article_entities": "article_id", "article_transfers": "article_id",
}
_TOMBSTONES = {**{table: ("removed_articles", "id") for table in _ARTICLE_TABLES}, "files": ("removed_files", "path")}
_KEYS = {**_ARTICLE_TABLES, "files": "path"}


def _tables(db: sqlite3.Connection, schema: str) -> set[str]:
    return {r[0] for r in db.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}


def _alive(table: str, later: Sequence[str], tables: dict[str, set[str]], alias: str = "x") -> str:
    """The condition that a row (as `alias`) of `table` is not removed by any of the `later`
    segments (schema names), or "1"."""
    tomb, column = _TOMBSTONES[table]
    key = _KEYS[table]
    terms = [f"NOT EXISTS (SELECT 1 FROM {s}.{tomb} AS r WHERE r.{column} = {alias}.{key})"
             for s in later if tomb in tables[s]]
    return " AND ".join(terms) or "1"


def _columns(db: sqlite3.Connection, schema: str, table: str) -> str:
    return ", ".join(f'"{r[1]}"' for r in db.execute(f"PRAGMA {schema}.table_info({table})"))


def _create_views(db: sqlite3.Connection, schemas: Sequence[str]) -> None:
    """A temporary view per table over the segments `schemas` (oldest first): every row that no
    newer segment removed. SQLite pushes a query's conditions into each arm, so a lookup by id
    stays a lookup by index in each segment."""
    tables = {s: _tables(db, s) for s in schemas}
    for table in _TOMBSTONES:
        having = [i for i, s in enumerate(schemas) if table in tables[s]]
        if not having:
            continue  # e.g. the facts tables of a store from before they existed
        columns = _columns(db, schemas[having[-1]], table)
        arms = [f"SELECT {columns} FROM {schemas[i]}.{table} AS x WHERE {_alive(table, schemas[i + 1:], tables)}"
                for i in having]
        db.execute(f"CREATE TEMP VIEW {table} AS {' UNION ALL '.join(arms)}")


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


class StoredPassage(NamedTuple):
    """A passage as stored: its vector id, its article and its span of the body.

    A named tuple (immutable, safe to share), not a frozen dataclass: a search makes ~200 of
    them (its candidates' and its page's passages), and a tuple is made in under half the time."""

    id: int
    article_id: str
    start: int
    end: int


# A StoredPassage from an (id, article_id, start, end) tuple with no Python call between (the
# named tuple's own __new__ and _make are Python functions).
_stored_passage = partial(tuple.__new__, StoredPassage)


@dataclass(frozen=True)
class FileRecord:
    """A source file as last indexed, and the inputs in it that were skipped."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    skipped: list[Skipped]


class _Held(Generic[T]):
    """Rows of a table that a reader keeps in memory once its searches have read as many of them
    one by one as the table holds. A row read by id costs about what a row of a whole read does
    (~1 us), so a reader never pays much more than twice the cheaper way: a command-line run's
    one search never reads them all, another long-lived reader reads them all once after ~50-100
    searches at 10,000 articles, and a server's are read when it opens (`hold`, `Engine.warm`).
    A generation's segments never change, so what is kept holds as long as the reader. Shared
    by threads: read once, under a lock, never changed after."""

    __slots__ = ("_read", "_value", "_rows", "_lock")

    def __init__(self, read: Callable[[sqlite3.Connection], T]) -> None:
        self._read = read
        self._value: T | None = None
        self._rows = 0
        self._lock = threading.Lock()

    def get(self, db: Callable[[], sqlite3.Connection], wanted: int, total: Callable[[], int]) -> T | None:
        """What is kept, or None while the rows are read one by one: read whole now (through
        `db()`) when this read of `wanted` rows brings the reader's rows read by id to the table's
        `total()`."""
        value = self._value
        if value is None and wanted:
            self._rows += wanted  # a race only makes a thread read the table a search early or late
            if self._rows >= total():
                value = self.hold(db)
        return value

    def hold(self, db: Callable[[], sqlite3.Connection]) -> T:
        """What is kept, read whole now (through `db()`) unless it is kept already."""
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._read(db())
                value = self._value
        return value


# A reader keeps every article whole (`_Articles`) when their titles and bodies come to at most
# this many characters: 39 MB of Python memory and 0.55 CPU-s to read at 28,828 news articles
# (16.9M characters), 14.5 MB at 10,000 (9.2M characters): ~50-75 MB at the budget. A
# page's ten articles then cost a dictionary lookup each instead of SQLite's row reads: in turns
# with reading them (one warmed engine, 300 queries; benchmarks/query_speed/bench_in_turns.py),
# warm hybrid p50 CPU 0.93-0.98x at 2,000 articles, 0.95-0.97x at 10,000 and 0.96-0.97x at
# 28,828 (docs/performance.md, ninth round).
HELD_ARTICLE_CHARS = 32_000_000


class _Articles:
    """A reader's articles by id (`by_id`), or None when their text is over HELD_ARTICLE_CHARS:
    the store then reads a page's articles from SQLite, as before it kept any."""

    __slots__ = ("by_id",)

    def __init__(self, by_id: dict[str, Article] | None) -> None:
        self.by_id = by_id

    @classmethod
    def read(cls, db: sqlite3.Connection) -> _Articles:
        # Counting first costs a few percent of reading them (0.03 CPU-s at 28,828 articles), and
        # a store over the budget then reads none.
        chars = db.execute("SELECT coalesce(sum(length(title)), 0) + coalesce(sum(length(body)), 0) FROM articles").fetchone()[0]
        if chars > HELD_ARTICLE_CHARS:
            return cls(None)
        return cls({row[0]: _article(row) for row in db.execute(f"SELECT {_ARTICLE_COLUMNS} FROM articles")})


class _Groups:
    """A reader's near-duplicate groups: the group of each article in one (`group_of`; an
    article missing is its own group) and each group's articles by id (`members`)."""

    __slots__ = ("group_of", "members")

    def __init__(self, rows: Sequence[tuple[str, str]]) -> None:
        self.group_of: dict[str, str] = dict(rows)
        members: dict[str, list[str]] = {}
        for article_id, group in sorted(rows):
            members.setdefault(group, []).append(article_id)
        self.members: dict[str, tuple[str, ...]] = {group: tuple(ids) for group, ids in members.items()}

    @classmethod
    def read(cls, db: sqlite3.Connection) -> _Groups:
        # `>= ''` rather than IS NOT NULL (every group is a non-empty id): SQLite then reads
        # each segment's grouped rows through articles_by_group instead of scanning its rows.
        return cls(db.execute("SELECT id, dup_group FROM articles WHERE dup_group >= ''").fetchall())


class _Owners:
    """A reader's passages: the article of each passage id, as an array indexed by passage id
    (an index into `ids`, -1 for no passage), and each article's passages in body order
    (`passages_of`), ~24 bytes a passage."""

    __slots__ = ("owner", "ids", "_number", "_passage", "_start", "_end", "_offset")

    def __init__(self, rows: Sequence[tuple[int, str, int, int]]) -> None:
        import numpy as np  # only searches that rank by meaning hold owners, and they have numpy loaded

        index: dict[str, int] = {}
        count = len(rows)
        passages = np.fromiter((row[0] for row in rows), dtype=np.int64, count=count)
        owners = np.fromiter((index.setdefault(row[1], len(index)) for row in rows), dtype=np.int32, count=count)
        self.owner = np.full(int(passages.max(initial=-1)) + 1, -1, dtype=np.int32)
        self.owner[passages] = owners
        self.ids = list(index)
        self._number = index
        # Offsets into a body fit 32 bits: SQLite holds no text over 1e9 bytes (SQLITE_MAX_LENGTH).
        starts = np.fromiter((row[2] for row in rows), dtype=np.int32, count=count)
        ends = np.fromiter((row[3] for row in rows), dtype=np.int32, count=count)
        # By article, then start, then id: the order passages_by_article's SQL reads them in.
        order = np.lexsort((passages, starts, owners))
        self._passage, self._start, self._end = passages[order], starts[order], ends[order]
        self._offset = np.searchsorted(owners[order], np.arange(len(index) + 1))

    @classmethod
    def read(cls, db: sqlite3.Connection) -> _Owners:
        return cls(db.execute("SELECT id, article_id, start, end FROM passages").fetchall())

    def articles_of(self, passage_ids: Sequence[int]) -> dict[int, str]:
        import numpy as np

        wanted = np.asarray(passage_ids, dtype=np.int64).reshape(-1)
        inside = (wanted >= 0) & (wanted < len(self.owner))
        owner = np.full(len(wanted), -1, dtype=np.int32)
        owner[inside] = self.owner[wanted[inside]]
        ids = self.ids
        return {pid: ids[at] for pid, at in zip(passage_ids, owner.tolist(), strict=True) if at >= 0}

    def passages_of(self, article_ids: Sequence[str]) -> dict[str, list[StoredPassage]]:
        """What `DocStore.passages_by_article` returns, from memory: the same passages, in the
        same order (articles by id, as SQLite's ORDER BY compares text; passages by start, id)."""
        found: dict[str, list[StoredPassage]] = {}
        for article_id in sorted(set(article_ids)):
            number = self._number.get(article_id)
            if number is None:
                continue
            low, high = int(self._offset[number]), int(self._offset[number + 1])
            rows = zip(self._passage[low:high].tolist(), repeat(article_id), self._start[low:high].tolist(),
                       self._end[low:high].tolist())
            found[article_id] = list(map(_stored_passage, rows))
        return found


    def passage_ids_of_articles(self, article_ids: Sequence[str]) -> dict[str, list[int]]:
        """The passage ids of `passages_of`'s passages, by article, with no passage made."""
        found: dict[str, list[int]] = {}
        for article_id in sorted(set(article_ids)):
            number = self._number.get(article_id)
            if number is not None:
                found[article_id] = self._passage[int(self._offset[number]):int(self._offset[number + 1])].tolist()
        return found


def _chunks(items: Sequence, size: int = 500):
    # SQLite limits the number of bound parameters in one statement.
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class DocStore:
    """Read access to an index's articles, passages and source files: the segment file `path`
    with the `newer` segments over it (oldest first; see the module doc). `counts` are the live
    (articles, passages) when the caller knows them (a generation's segments.json), else they
    are counted.

    Safe to share between threads: each thread reads through its own read-only SQLite
    connection, opened on its first call (a connection must not be used by two threads at
    once). `close` closes them all; call it only when no thread is still reading. Once its
    searches have read as many near-duplicate groups (passage owners, articles) one by one as the
    store has articles (passages, articles), a reader keeps them all in memory (`_Held`; the
    articles only up to HELD_ARTICLE_CHARS of text), for every thread.
    """

    def __init__(self, path: Path, newer: Sequence[Path] = (), counts: tuple[int, int] | None = None) -> None:
        self._uri = f"file:{path}?mode=ro"
        self._newer = [Path(p) for p in newer]
        self._counts = counts
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._groups = _Held(_Groups.read)
        self._owners = _Held(_Owners.read)
        self._articles = _Held(_Articles.read)

    @property
    def _db(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        try:
            connection.execute("SELECT COUNT(*) FROM sqlite_master")  # a damaged file fails here, on first use
            if self._newer:
                schemas = ["main"]
                for number, path in enumerate(self._newer, 1):
                    connection.execute(f"ATTACH DATABASE ? AS s{number}", (f"file:{path}?mode=ro",))
                    schemas.append(f"s{number}")
                _create_views(connection, schemas)
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        """Close every thread's connection."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    def article(self, article_id: str) -> Article | None:
        """The article with this id, or None."""
        held = self._held(self._articles, 1, self.count_articles)
        if held is not None and held.by_id is not None:
            return held.by_id.get(article_id)
        row = self._db.execute(
            f"SELECT {_ARTICLE_COLUMNS} FROM articles WHERE id = ?", (article_id,)
        ).fetchone()
        return _article(row) if row else None

    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]:
        """The articles among `article_ids`, by id (from memory once the reader keeps them all:
        see `HELD_ARTICLE_CHARS`)."""
        held = self._held(self._articles, len(article_ids), self.count_articles)
        if held is not None and held.by_id is not None:
            by_id = held.by_id
            return {article_id: by_id[article_id] for article_id in article_ids if article_id in by_id}
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

    def passages_by_article(self, article_ids: Sequence[str]) -> dict[str, list[StoredPassage]]:
        """The passages of each of these articles, in body order, by article (one read for a
        page of hits; an article without passages, or not held, is left out). From memory once
        the reader holds its passages (see `_held`): a page's ~70 rows cost ~0.16 ms read from
        SQLite, ~0.06 ms from memory."""
        held = self._held(self._owners, 0, self.count_passages)  # held by the semantic leg's reads
        if held is not None:
            return held.passages_of(article_ids)
        found: dict[str, list[StoredPassage]] = {}
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT id, article_id, start, end FROM passages WHERE article_id IN ({marks}) "
                "ORDER BY article_id, start, id", chunk,
            ):
                found.setdefault(row[1], []).append(StoredPassage(*row))
        return found

    def passage_ids_by_article(self, article_ids: Sequence[str]) -> dict[str, list[int]]:
        """Each of these articles' passage ids in body order (an article without passages, or
        not held, left out): `passages_by_article` without making a passage of each once the
        passages are held, for what needs only their vectors (the engine's best-passage cosines
        of ~20 candidates a search: ~45 against ~100 us)."""
        held = self._held(self._owners, 0, self.count_passages)
        if held is not None:
            return held.passage_ids_of_articles(article_ids)
        return {article_id: [p.id for p in passages] for article_id, passages in self.passages_by_article(article_ids).items()}

    def passage_articles(self, ids: Sequence[int]) -> dict[int, str]:
        """The article id of each of these passages, by passage id."""
        held = self._held(self._owners, len(ids), self.count_passages)
        if held is not None:
            return held.articles_of(ids)
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

    def content_hashes_of(self, article_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(content hash, source file) of each of these articles that the store holds."""
        return self._content_hashes_where("id", article_ids)

    def content_hashes_in(self, files: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(content hash, source file) of every article from these source files, by id."""
        return self._content_hashes_where("file", files)

    def _content_hashes_where(self, column: str, values: Sequence[str]) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(values):
            marks = ",".join("?" * len(chunk))
            found.update((r[0], (r[1], r[2])) for r in self._db.execute(
                f"SELECT id, content_hash, file FROM articles WHERE {column} IN ({marks})", chunk))
        return found

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
            "SELECT 1 FROM sqlite_temp_master WHERE type = 'view' AND name = 'article_facts' "
            "UNION ALL SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'article_facts'").fetchone() is not None

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
        # In steps, each a lookup by index: a join of the segments' views would read them whole.
        mine = self._db.execute("SELECT band, bucket FROM bands WHERE article_id = ?", (article_id,)).fetchall()
        others: set[str] = set()
        for chunk in _chunks(mine, 200):
            pairs = " OR ".join("(band = ? AND bucket = ?)" for _ in chunk)
            others.update(r[0] for r in self._db.execute(
                f"SELECT article_id FROM bands WHERE {pairs}", [v for pair in chunk for v in pair]))
        others.discard(article_id)
        found: dict[str, bytes] = {}
        for ids in _chunks(sorted(others)):
            marks = ",".join("?" * len(ids))
            found.update(self._db.execute(f"SELECT id, signature FROM articles WHERE id IN ({marks})", ids))
        return found

    def duplicate_groups(self, article_ids: Sequence[str]) -> dict[str, str]:
        """The duplicate group of each of these articles (one in no group of several is its
        own group, and so is an id the store does not hold)."""
        held = self._held(self._groups, len(article_ids), self.count_articles)
        if held is not None:
            return {article_id: held.group_of.get(article_id, article_id) for article_id in article_ids}
        found: dict[str, str] = {}
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT id, coalesce(dup_group, id) FROM articles WHERE id IN ({marks})", chunk))
        return {article_id: found.get(article_id, article_id) for article_id in article_ids}

    def group_members(self, groups: Sequence[str]) -> dict[str, list[str]]:
        """The articles in each of these duplicate groups (by id), by group; a group of one is
        left out."""
        held = self._held(self._groups, 0, self.count_articles)  # kept, never read for this
        if held is not None:
            return {group: list(held.members[group]) for group in groups if group in held.members}
        found: dict[str, list[str]] = {}
        for chunk in _chunks(groups):
            marks = ",".join("?" * len(chunk))
            for article_id, group in self._db.execute(
                f"SELECT id, dup_group FROM articles WHERE dup_group IN ({marks}) ORDER BY id", chunk
            ):
                found.setdefault(group, []).append(article_id)
        return found

    def hold(self) -> None:
        """Read now, and keep for as long as this reader lives, what it otherwise keeps only once
        its searches have read as many of those rows one by one (see `_held`): every
        near-duplicate group, the article of every passage, and every article whole when their
        text is at most HELD_ARTICLE_CHARS characters. For a long-lived process (`Engine.warm`):
        the groups and owners ~0.2 s and ~7 MB at 28,828 articles (135,921 passages), where each
        search would otherwise read its ~400 passages' owners and ~150 candidates' groups from
        SQLite until the reader had read as many (~340 semantic searches there); the articles
        0.04 CPU-s and 3 MB at 2,000 articles, 0.19 and 14.5 MB at 10,000, 0.55 and 39 MB at
        28,828."""
        for held in (self._groups, self._owners, self._articles):
            held.hold(lambda: self._db)

    def _held(self, held: _Held[T], wanted: int, total: Callable[[], int]) -> T | None:
        """What this reader keeps of a table (see `_Held`), or None while it reads `wanted` rows
        of the table's `total()` one by one.

        A search collapses a page from ~100-200 candidates, and reading each one's group from
        its row was ~0.4-0.8 ms of a ~3-8 ms warm search at 10,000 articles (the group sits after
        the body in the row); the groups are read whole through their own index instead, ~1 ms
        (556 articles in groups). The semantic leg maps ~400 passages to their articles a search,
        ~0.3-0.6 ms; every passage's article is read once (~30 ms at 42,807 passages) and kept
        as an array.
        """
        return held.get(lambda: self._db, wanted, total)

    def count_articles(self) -> int:
        """Number of articles."""
        return self._counted()[0]

    def count_passages(self) -> int:
        """Number of passages."""
        return self._counted()[1]

    def _counted(self) -> tuple[int, int]:
        """(articles, passages): as given, else counted on first use and kept, as a reader's
        segments never change. A generation written before segments gives none, and every warm
        search asks for the number of articles (its COUNT(*) was ~1% of a search at 10,000)."""
        db = self._db  # opened even when the count is known: a damaged store fails as it always did
        if self._counts is None:
            articles = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
            self._counts = (articles, db.execute("SELECT COUNT(*) FROM passages").fetchone()[0])
        return self._counts


class DocStoreWriter(DocStore):
    """Changes to an article store, written as a new segment file `path` over the `older`
    segments (paths with their DocSegment entries, oldest first), which it never changes; with
    none, `path` is a store of its own. `commit` ends them.

    Added articles go into the new segment with passage ids from `next_passage` on. Removing an
    article of an older segment records it in `removed_articles`; changing one (its facts, its
    duplicate group) moves all its rows into the new segment first, so an article always lives
    in one segment. On `commit` the new segment folds in older ones by `fold_from` (those
    `always` marks, and the size tiers); `segments` and `next_passage` then describe the store.

    One connection, for the one thread that writes. The file is a new one in an unpublished
    generation, so it is written without a journal or syncs: a failed write leaves nothing
    that is ever read, and publishing flushes the generation.
    """

    def __init__(
        self,
        path: Path,
        older: Sequence[tuple[Path, DocSegment]] = (),
        next_passage: int | None = None,
        always: Sequence[bool] = (),
        name: str = "",
    ) -> None:
        super().__init__(path)
        self.path = path
        self._older = [entry for _p, entry in older]
        self._older_paths = [p for p, _e in older]
        self._always = list(always) or [False] * len(older)
        self._name = name
        self._dead_articles = [0] * len(older)
        self._dead_passages = [0] * len(older)
        self._facts_checked = False
        self._writer = sqlite3.connect(f"file:{path}?mode=rwc", uri=True)
        try:
            self._writer.execute("PRAGMA journal_mode = MEMORY")
            self._writer.execute("PRAGMA synchronous = OFF")
            self._writer.executescript(_SCHEMA)
            self._schemas = [f"s{i}" for i in range(len(older))]
            for schema, older_path in zip(self._schemas, self._older_paths, strict=True):
                self._writer.execute(f"ATTACH DATABASE ? AS {schema}", (f"file:{older_path}?mode=ro",))
            self._schemas.append("main")
            self._tables = {s: _tables(self._writer, s) for s in self._schemas}
            if older:
                _create_views(self._writer, self._schemas)
            if next_passage is None:
                top = self._writer.execute("SELECT max(id) FROM passages").fetchone()[0]
                next_passage = (top or 0) + 1
        except BaseException:
            self._writer.close()
            raise
        self.next_passage = next_passage
        self.segments: list[DocSegment] = []  # after commit: the store's segments, oldest first
        self.folded = len(older)  # after commit: the first older segment folded into the new one

    @property
    def _db(self) -> sqlite3.Connection:
        return self._writer

    def _held(self, held: _Held[T], wanted: int, total: Callable[[], int]) -> T | None:
        return None  # the rows change as the writer writes: always read them

    def hold(self) -> None:
        """Nothing: the rows change as the writer writes, so it keeps none of them."""

    def close(self) -> None:
        """Close the database."""
        self._writer.close()

    # -- where rows live --------------------------------------------------------------------
    def _alive_in(self, index: int, table: str = "articles") -> str:
        return _alive(table, self._schemas[index + 1 :], self._tables)

    def _locate(self, article_ids: Sequence[str]) -> dict[int, list[str]]:
        """The live articles among `article_ids` by the segment that holds them (an index into
        the older segments; len(older) is the new one)."""
        found: dict[int, list[str]] = {}
        for index, schema in enumerate(self._schemas):
            for chunk in _chunks(article_ids):
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT x.id FROM {schema}.articles AS x WHERE x.id IN ({marks}) AND {self._alive_in(index)}", chunk)
                found.setdefault(index, []).extend(r[0] for r in rows)
        return {index: ids for index, ids in found.items() if ids}

    def _retire(self, index: int, article_ids: list[str]) -> None:
        """Remove these articles of older segment `index` from the store (a tombstone)."""
        schema = self._schemas[index]
        for chunk in _chunks(article_ids):
            marks = ",".join("?" * len(chunk))
            passages = self._db.execute(
                f"SELECT COUNT(*) FROM {schema}.passages WHERE article_id IN ({marks})", chunk).fetchone()[0]
            self._dead_passages[index] += passages
            self._dead_articles[index] += len(chunk)
            self._db.executemany("INSERT OR IGNORE INTO main.removed_articles VALUES (?)", [(a,) for a in chunk])

    def _move(self, article_ids: Sequence[str]) -> None:
        """Bring these articles, with all their rows, from older segments into the new one."""
        for index, ids in self._locate(article_ids).items():
            if index == len(self._older):
                continue
            schema = self._schemas[index]
            for table, key in _ARTICLE_TABLES.items():
                if table not in self._tables[schema]:
                    continue
                columns = _columns(self._db, "main", table)
                for chunk in _chunks(ids):
                    marks = ",".join("?" * len(chunk))
                    self._db.execute(
                        f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM {schema}.{table} WHERE {key} IN ({marks})",
                        chunk)
            self._retire(index, ids)

    # -- changes ----------------------------------------------------------------------------
    def commit(self) -> None:
        """Fold older segments in as `fold_from` says, make the changes durable with the
        generation, and set `segments` and `folded`."""
        from index.storage.segments import DocSegment, fold_from

        db = self._db
        new_articles = db.execute("SELECT COUNT(*) FROM main.articles").fetchone()[0]
        own_facts = db.execute(
            "SELECT 1 FROM main.articles AS x WHERE NOT EXISTS "
            "(SELECT 1 FROM main.article_facts AS f WHERE f.article_id = x.id) LIMIT 1").fetchone() is None
        older = [
            replace(entry, dead_articles=entry.dead_articles + self._dead_articles[i],
                    dead_passages=entry.dead_passages + self._dead_passages[i],
                    facts=entry.facts or self._facts_checked)
            for i, entry in enumerate(self._older)
        ]
        start = fold_from([e.articles for e in older], [e.dead_articles for e in older], self._always, new_articles)
        self._fold(start)
        db.commit()
        articles = db.execute("SELECT COUNT(*) FROM main.articles").fetchone()[0]
        passages = db.execute("SELECT COUNT(*) FROM main.passages").fetchone()[0]
        facts = own_facts and all(e.facts for e in older[start:])
        self.folded = start
        self.segments = [*older[:start], DocSegment("" if start == 0 else self._name, articles, passages, facts=facts)]

    def _fold(self, start: int) -> None:
        """Copy the live rows of older segments `start`.. into the new one, then the tombstones
        they hold for the segments before `start` (after the rows: a tombstone of one folded
        segment may name an article a newer folded segment added again)."""
        db = self._db
        folded = range(start, len(self._older))
        for index in folded:
            schema = self._schemas[index]
            for table in _TOMBSTONES:
                if table in self._tables[schema]:
                    columns = _columns(db, "main", table)
                    db.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM {schema}.{table} AS x "
                               f"WHERE {self._alive_in(index, table)}")
        for index in folded:
            schema = self._schemas[index]
            for tomb, column in (("removed_articles", "id"), ("removed_files", "path")):
                if tomb in self._tables[schema]:
                    db.execute(f"INSERT OR IGNORE INTO main.{tomb} SELECT {column} FROM {schema}.{tomb}")
        if start == len(self._older):
            return
        # Tombstones are kept only for what the segments left before the fold still hold.
        for tomb, column, table in (("removed_articles", "id", "articles"), ("removed_files", "path", "files")):
            keep = " OR ".join(f"EXISTS (SELECT 1 FROM {s}.{table} AS t WHERE t.{_KEYS[table]} = r.{column})"
                               for s in self._schemas[:start] if table in self._tables[s])
            db.execute(f"DELETE FROM main.{tomb} AS r WHERE NOT ({keep or '0'})")

    def delete_articles(self, article_ids: Sequence[str]) -> list[int]:
        """Delete articles and their passages; returns the deleted passages' ids."""
        removed = self.passage_ids_of(article_ids)
        for index, ids in self._locate(article_ids).items():
            if index < len(self._older):
                self._retire(index, ids)
                continue
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                for table, key in _ARTICLE_TABLES.items():
                    self._db.execute(f"DELETE FROM main.{table} WHERE {key} IN ({marks})", chunk)
        return removed

    def add_article(
        self, article: Article, file: str, passages: Sequence[Passage], signature: bytes, bands: Sequence[tuple[int, int]]
    ) -> list[int]:
        """Insert an article, its countries, duplicate-signature bands and passages; returns the
        passages' (vector) ids. An id the store holds already is an IntegrityError."""
        a = article
        if self._older and self._db.execute("SELECT 1 FROM articles WHERE id = ?", (a.id,)).fetchone():
            raise sqlite3.IntegrityError(f"UNIQUE constraint failed: articles.id ({a.id!r})")
        self._db.execute(
            "INSERT INTO main.articles VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (a.id, a.title, a.body, a.date, a.source, a.url, a.path, json.dumps(list(a.countries)),
             a.content_hash, file, signature, int(a.title_derived)),
        )
        self._db.executemany("INSERT INTO main.article_countries VALUES (?, ?)", [(a.id, c) for c in a.countries])
        self._db.executemany("INSERT INTO main.bands VALUES (?, ?, ?)", [(band, bucket, a.id) for band, bucket in bands])
        ids = list(range(self.next_passage, self.next_passage + len(passages)))
        self.next_passage += len(passages)
        self._db.executemany(
            "INSERT INTO main.passages (id, article_id, start, end) VALUES (?, ?, ?, ?)",
            [(pid, a.id, p.start, p.end) for pid, p in zip(ids, passages, strict=True)],
        )
        return ids

    def articles_without_facts(self) -> list[str]:
        """Ids of the articles with no stored facts (those of an index built before them),
        looked for in the segments not known to be complete. The caller stores facts for each
        before committing: the older segments then count as complete."""
        found: list[str] = []
        for index, schema in enumerate(self._schemas):
            has_table = "article_facts" in self._tables[schema]
            if index < len(self._older) and self._older[index].facts and has_table:
                continue
            lacking = ("1" if not has_table else
                       f"NOT EXISTS (SELECT 1 FROM {schema}.article_facts AS f WHERE f.article_id = x.id)")
            found += [r[0] for r in self._db.execute(
                f"SELECT x.id FROM {schema}.articles AS x WHERE {lacking} AND {self._alive_in(index)}")]
        self._facts_checked = True
        return sorted(found)

    def put_facts(self, article_id: str, facts: DefenceFacts) -> None:
        """Store an article's defence facts (replacing any it had)."""
        self._move([article_id])
        for table in ("article_facts", "article_entities", "article_transfers"):
            self._db.execute(f"DELETE FROM main.{table} WHERE article_id = ?", (article_id,))
        self._db.execute("INSERT INTO main.article_facts VALUES (?, ?)", (article_id, facts_to_json(facts)))
        self._db.executemany(
            "INSERT INTO main.article_entities VALUES (?, ?, ?)", [(article_id, t, n) for t, n in entity_rows(facts)])
        self._db.executemany(
            "INSERT INTO main.article_transfers VALUES (?, ?, ?, ?)",
            [(article_id, t.supplier, t.recipient, t.system) for t in facts.transfers],
        )

    def set_duplicate_group(self, members: set[str]) -> None:
        """Record a group of near-duplicates, named by its smallest id (a lone article: no group)."""
        group = min(members) if len(members) > 1 else None
        changed: list[str] = []
        for chunk in _chunks(sorted(members)):
            marks = ",".join("?" * len(chunk))
            changed += [r[0] for r in self._db.execute(
                f"SELECT id FROM articles WHERE id IN ({marks}) AND dup_group IS NOT ?", [*chunk, group])]
        self._move(changed)
        for chunk in _chunks(changed):
            self._db.execute(
                f"UPDATE main.articles SET dup_group = ? WHERE id IN ({','.join('?' * len(chunk))})", [group, *chunk]
            )

    def put_file(self, record: FileRecord) -> None:
        """Record a source file as indexed now."""
        skipped = json.dumps([[s.path, s.reason] for s in record.skipped])
        if self._older:
            self._db.execute("INSERT OR IGNORE INTO main.removed_files VALUES (?)", (record.path,))
        self._db.execute(
            "INSERT OR REPLACE INTO main.files VALUES (?, ?, ?, ?, ?)",
            (record.path, record.size, record.mtime_ns, record.sha256, skipped),
        )

    def delete_files(self, paths: Sequence[str]) -> None:
        """Forget source files that are gone."""
        for chunk in _chunks(paths):
            self._db.execute(f"DELETE FROM main.files WHERE path IN ({','.join('?' * len(chunk))})", chunk)
            if self._older:
                self._db.executemany("INSERT OR IGNORE INTO main.removed_files VALUES (?)", [(p,) for p in chunk])

    def count_articles(self) -> int:
        """Number of articles, with the changes so far."""
        own = self._db.execute("SELECT COUNT(*) FROM main.articles").fetchone()[0]
        return own + sum(e.live_articles - d for e, d in zip(self._older, self._dead_articles, strict=True))

    def count_passages(self) -> int:
        """Number of passages, with the changes so far."""
        own = self._db.execute("SELECT COUNT(*) FROM main.passages").fetchone()[0]
        return own + sum(e.live_passages - d for e, d in zip(self._older, self._dead_passages, strict=True))


def open_docstore(folder: Path, segments: Sequence[DocSegment] | None) -> DocStore:
    """The article store of a generation folder with these segments (None: written before
    segments, one base file), its counts taken from the segments."""
    from index.storage.layout import docstore_file

    if segments is None:
        return DocStore(folder / docstore_file(""))
    paths = [folder / docstore_file(s.name) for s in segments]
    counts = (sum(s.live_articles for s in segments), sum(s.live_passages for s in segments))
    return DocStore(paths[0], paths[1:], counts)


def generation_docstore(folder: Path) -> DocStore:
    """The article store of the generation folder `folder`, over all its segments."""
    from index.storage.segments import read_segments

    segments = read_segments(folder)
    return open_docstore(folder, None if segments is None else segments.docs)
