"""A PostgreSQL store's watchlist storage: the tables `accord.searches`, `accord.members` and
`accord.entries` of its database (schema version 2; `owner` and `shared` since 5, keyed by owner and name since 6), with the same columns as a folder's
watchlist.sqlite, so the saved searches' logic (search/views/watchlist.py) runs the same
statements on both.

Each transaction opens its own connection; writers lock `accord.searches` first (schema.py's
WATCHLIST_LOCK, held until the transaction ends), so any number of threads and processes, on any
number of machines, may use one store at once, directly or through PgBouncer in transaction
mode (nothing here lasts past its transaction: no prepared statements, no session settings). Writing needs a role that may write these three
tables; the read-only search role cannot, and is told so in one line with the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from index.errors import StoreAccessDenied
from index.storage.base import WatchlistStore
from index.storage.postgres.connection import access_denied, connect, redact
from index.storage.postgres.schema import WATCHLIST_LOCK, check_version


class _PgStatements:
    """A psycopg connection that takes the watchlist's SQLite statements: `?` placeholders
    (these constant statements hold no other `?`) and the tables of the schema `accord`."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence = ()):
        return self._conn.execute(sql.replace("?", "%s"), params)

    def executemany(self, sql: str, rows: Sequence[Sequence]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


class PgWatchlistStore(WatchlistStore):
    """The watchlist of the store at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = redact(url)

    def exists(self) -> bool:
        """True while a search is saved for this store."""
        with self.transaction(write=False) as db:
            return bool(db.execute("SELECT EXISTS (SELECT 1 FROM searches)").fetchone()[0])

    @contextmanager
    def transaction(self, write: bool) -> Iterator[_PgStatements]:
        """One transaction in the store's database (a write takes the watchlist's lock first)."""
        import psycopg

        conn = connect(self.url)
        # No prepared statements: behind PgBouncer in transaction mode, one left on a server
        # connection collides with the next client's of the same name there. These
        # transactions are short and few, so preparing would save little anyway.
        conn.prepare_threshold = None
        try:
            with conn.transaction():
                check_version(conn, self.where)  # an older store is told to migrate
                conn.execute("SET LOCAL search_path TO accord")
                if write:
                    conn.execute(WATCHLIST_LOCK)
                yield _PgStatements(conn)
        except psycopg.errors.InsufficientPrivilege as err:
            raise StoreAccessDenied(access_denied(
                err, conn.info.user, self.where, writing=write, tables="accord.searches, accord.members, accord.entries",
            )) from None
        finally:
            conn.close()
