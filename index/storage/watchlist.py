"""A folder index's watchlist storage: `INDEX_DIR/watchlist.sqlite`, beside the generation
folders, so updates and `accord index --rebuild` keep it.

The saved searches' logic (search/views/watchlist.py) runs its statements through
`SqliteWatchlistStore.transaction`, the same statements as on a PostgreSQL store. Each
transaction opens its own connection; writers take turns (WAL, a busy timeout, `BEGIN
IMMEDIATE`), so any number of threads and processes may use one store at once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.storage.base import WatchlistStore

WATCHLIST_FILE = "watchlist.sqlite"
_BUSY_TIMEOUT_SECONDS = 30.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    name TEXT PRIMARY KEY,
    query TEXT NOT NULL,
    filters TEXT NOT NULL,     -- JSON of Filters (normalised country names, ISO date bounds)
    exec TEXT,                 -- command line run with new matches as JSON on stdin
    created TEXT NOT NULL,     -- UTC, ISO 8601
    checked TEXT               -- UTC time of the last check
);
CREATE TABLE IF NOT EXISTS members (  -- the match set as of the last check
    name TEXT NOT NULL REFERENCES searches(name) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    PRIMARY KEY (name, article_id)
);
CREATE TABLE IF NOT EXISTS entries (  -- when each article entered the match set
    name TEXT NOT NULL REFERENCES searches(name) ON DELETE CASCADE,
    article_id TEXT NOT NULL,
    entered TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (name, entered);
"""


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
        saved to runs on an empty one in memory."""
        if not write and not self.exists():
            # Reading an absent watchlist must not create one (nor the index folder).
            db = sqlite3.connect(":memory:", isolation_level=None)
            db.executescript(_SCHEMA)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_SECONDS, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.executescript(_SCHEMA)
        try:
            db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
