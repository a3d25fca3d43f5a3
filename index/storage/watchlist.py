"""A folder index's watchlist storage: `INDEX_DIR/watchlist.sqlite`, beside the generation
folders, so updates and `accord index --rebuild` keep it.

The saved searches' logic (search/views/watchlist.py) runs its statements through
`SqliteWatchlistStore.transaction`, the same statements as on a PostgreSQL store. Each
transaction opens its own connection; writers take turns (WAL, a busy timeout, `BEGIN
IMMEDIATE`), so any number of threads and processes may use one store at once.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import WatchlistUnavailable
from index.storage.base import WatchlistStore
from index.storage.faults import is_corruption, is_disk_full

WATCHLIST_FILE = "watchlist.sqlite"
_BUSY_TIMEOUT_SECONDS = 30.0
# Less free space than this beside an I/O error is a full disk: a WAL reader's shared memory
# file alone takes 32 KiB.
_NEARLY_FULL_BYTES = 1 << 20
# Saved searches are keyed by owner and name (names are per owner, search/views/watchlist.py).
_TABLES = """
CREATE TABLE IF NOT EXISTS searches (
    name TEXT NOT NULL,
    query TEXT NOT NULL,
    filters TEXT NOT NULL,     -- JSON of Filters (normalised country names, ISO date bounds)
    exec TEXT,                 -- command line run with new matches as JSON on stdin
    created TEXT NOT NULL,     -- UTC, ISO 8601
    checked TEXT,              -- UTC time of the last check
    owner TEXT NOT NULL DEFAULT '',       -- the server user who saved it, '' for the CLI / unnamed token
    shared INTEGER NOT NULL DEFAULT 0,    -- 1: every server user sees it (only its owner removes it)
    PRIMARY KEY (owner, name)
);
CREATE TABLE IF NOT EXISTS members (  -- the match set as of the last check
    name TEXT NOT NULL,
    article_id TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (owner, name, article_id),
    FOREIGN KEY (owner, name) REFERENCES searches (owner, name) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS entries (  -- when each article entered the match set
    name TEXT NOT NULL,
    article_id TEXT NOT NULL,
    entered TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (owner, name) REFERENCES searches (owner, name) ON DELETE CASCADE
);
"""
# Made after `_migrate`: on an older file, `entries` has no owner until then.
_INDEXES = "CREATE INDEX IF NOT EXISTS entries_by_time ON entries (owner, name, entered)"


class SqliteWatchlistStore(WatchlistStore):
    """The watchlist of the index folder `index_dir`."""

    def __init__(self, index_dir: Path) -> None:
        self.path = index_dir / WATCHLIST_FILE
        self.where = str(index_dir)

    def exists(self) -> bool:
        """True once a search has ever been saved for this index."""
        return self.path.exists()

    @contextmanager
    def transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction (a write takes the writers' turn first); a read of a watchlist never
        saved to runs on an empty one in memory. Raises WatchlistUnavailable, naming the file,
        when SQLite cannot read or write it (a full disk, an I/O error, permissions, damage)."""
        try:
            db = self._connect(write)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            finally:
                db.close()
        except sqlite3.Error as err:
            raise _unavailable(self.path, err, write) from None

    def _connect(self, write: bool) -> sqlite3.Connection:
        """A connection to the file in a transaction: a write's has taken the writers' turn
        (`BEGIN IMMEDIATE`) and made the tables, in one step so a reader sees all or none.

        A read neither creates the file nor changes it. When SQLite cannot set up the shared
        memory file (`-shm`) a WAL reader needs, as on a full disk, the read is retried with the
        connection holding the file alone (EXCLUSIVE locking keeps the WAL index in memory), so
        the saved searches stay readable while nothing can be saved.
        """
        if not write and not self.exists():
            return _empty()  # reading an absent watchlist must not create one (nor the index folder)
        if write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
            try:
                _write_ahead(db)
                db.execute("PRAGMA foreign_keys=ON")
                db.executescript("BEGIN IMMEDIATE;" + _TABLES)
                _migrate(db)
                db.execute(_INDEXES)
            except BaseException:
                db.close()
                raise
            return db
        try:
            reading = self._reading(alone=False)
        except sqlite3.Error as err:
            if not _io_error(err):
                raise
            reading = self._reading(alone=True)
        return reading if reading is not None else _empty()

    def _reading(self, alone: bool) -> sqlite3.Connection | None:
        """The file in a read transaction; None while it has no tables yet (its first save has
        not committed, or failed before writing them)."""
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            if alone:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("BEGIN")
            # The first statement starts the read (setting up the -shm file and the WAL).
            if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'searches'").fetchone() is None:
                db.close()
                return None
        except BaseException:
            db.close()
            raise
        return db


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a watchlist saved by an older Accord to today's tables, in the write transaction (so
    every writer sees them before it writes): `owner` and `shared` on `searches`, then names per
    owner (the key (owner, name), an `owner` on `members` and `entries`). SQLite cannot change a
    table's key, so the three tables are copied into new ones, which then take the old names
    (renaming a table also renames the references to it). Reads of an older file still work: its
    rows have no owner (`search.views.watchlist`)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(searches)")}
    if "owner" not in columns:
        db.execute("ALTER TABLE searches ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    if "shared" not in columns:
        db.execute("ALTER TABLE searches ADD COLUMN shared INTEGER NOT NULL DEFAULT 0")
    if any(row[1] == "owner" and row[5] > 0 for row in db.execute("PRAGMA table_info(searches)")):
        return  # `owner` is part of the key already
    new = _TABLES.replace("IF NOT EXISTS ", "").replace("CREATE TABLE searches", "CREATE TABLE searches_v6")
    new = new.replace("CREATE TABLE members", "CREATE TABLE members_v6").replace("CREATE TABLE entries", "CREATE TABLE entries_v6")
    new = new.replace("REFERENCES searches ", "REFERENCES searches_v6 ")
    for statement in filter(str.strip, new.split(";")):  # execute, not executescript, which would commit
        db.execute(statement)
    db.execute("INSERT INTO searches_v6 SELECT name, query, filters, exec, created, checked, owner, shared FROM searches")
    db.execute("INSERT INTO members_v6 SELECT m.name, m.article_id, s.owner FROM members m JOIN searches s USING (name)")
    db.execute("INSERT INTO entries_v6 SELECT e.name, e.article_id, e.entered, s.owner FROM entries e JOIN searches s USING (name)")
    for table in ("entries", "members", "searches"):
        db.execute(f"DROP TABLE {table}")  # constant names
    for table in ("searches", "members", "entries"):
        db.execute(f"ALTER TABLE {table}_v6 RENAME TO {table}")


def _write_ahead(db: sqlite3.Connection) -> None:
    """Put the file in WAL mode (it stays so). On a new file's first writes several connections
    ask at once, and SQLite answers all but one "database is locked" at once, without waiting out
    the busy timeout (4 of 60 runs of 8 threads saving to a new watchlist, before this): they ask
    again until the file is in WAL mode or the busy timeout has passed."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if getattr(err, "sqlite_errorname", "") != "SQLITE_BUSY" or time.monotonic() > deadline:
                raise
            time.sleep(0.005)  # the connection that switched it holds the lock for a moment


def _empty() -> sqlite3.Connection:
    """An empty watchlist in memory, in a read transaction."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(_TABLES + _INDEXES + ";")
    db.execute("BEGIN")
    return db


def _io_error(err: sqlite3.Error) -> bool:
    """True for SQLite's I/O and full-disk errors (not a busy lock, a damaged file, a bad statement)."""
    return getattr(err, "sqlite_errorname", "").startswith(("SQLITE_IOERR", "SQLITE_FULL"))


def _unavailable(path: Path, err: sqlite3.Error, write: bool) -> WatchlistUnavailable:
    """The one-line error for a watchlist file SQLite cannot use, naming it and the way out."""
    code = getattr(err, "sqlite_errorname", "")
    if _io_error(err) or is_disk_full(err):
        free = _free_bytes(path.parent)
        if free is not None and free < _NEARLY_FULL_BYTES:
            hint = f"its disk is full ({free:,} bytes free): free some space and retry"
        else:
            hint = "check the disk that holds it"
    elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        hint = f"another process held it for {_BUSY_TIMEOUT_SECONDS:.0f} s: retry"
    elif code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
        hint = "check that the file and its folder may be read and written"
    elif code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or is_corruption(err):
        hint = "the file is damaged: move it aside to start an empty watchlist (its saved searches are lost)"
    else:
        hint = "check the file"
    detail = f"{err} ({code})" if code else str(err)
    return WatchlistUnavailable(f"cannot {'save to' if write else 'read'} the watchlist {path}: {detail}; {hint}")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None
