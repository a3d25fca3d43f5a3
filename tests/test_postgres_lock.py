"""The PostgreSQL store's writers' locks: table locks only a role that may write can take, so a
read-only role can neither take them nor hold writers back; writers still take turns."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from index.errors import IndexLocked, StoreAccessDenied
from index.pipeline.builder import build
from index.storage.postgres.connection import connect
from index.storage.postgres.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    WATCHLIST_LOCK,
    WRITE_LOCK,
    check_version,
    migrate,
    stored_version,
)
from index.storage.postgres.transaction import PgIndex
from index.storage.postgres.watchlist import PgWatchlistStore
from tests.conftest import SEEDS, HashingEncoder, requires

pytestmark = requires("postgres")

# The advisory-lock keys of schema 2's writers (migration, index, watchlist): any role that can
# connect may take these, which is what the table locks replace.
OLD_KEYS = (0x61636330, 0x61636331, 0x61636332)
BOUND = 60  # seconds a thread may take before the test calls it blocked (a liveness bound, not a timing)


def _in_thread(work) -> threading.Thread:
    """Run `work` in a thread and wait for it to finish (or for BOUND seconds)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:  # noqa: BLE001 - handed to the test
            failures.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive(), "the writer was blocked by the read-only role"
    if failures:
        raise failures[0]
    return thread


def test_a_read_only_role_cannot_take_the_write_locks_nor_block_writers(pg_url, pg_reader_url):
    with PgIndex(pg_url).transaction(lock_timeout=0):
        pass  # creates the tables (the reader may read them, by the default privileges)
    with connect(pg_reader_url) as reader:
        for lock in (WRITE_LOCK, WATCHLIST_LOCK):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                reader.execute(lock + " NOWAIT")
            reader.rollback()
        # All a read-only role may do, held in an open transaction: read the lock tables, take
        # their weakest lock, and take the advisory locks writers took before.
        reader.execute("SELECT * FROM accord.write_lock")
        reader.execute("LOCK TABLE accord.write_lock, accord.searches IN ACCESS SHARE MODE")
        for key in OLD_KEYS:
            reader.execute("SELECT pg_advisory_lock(%s)", (key,))
        report = build([SEEDS], pg_url, encoder=HashingEncoder(), lock_timeout=0)  # not told "locked"
        assert report.articles == len(list(SEEDS.glob("*.txt")))

        def save_search() -> None:
            with PgWatchlistStore(pg_url).transaction(write=True) as db:
                db.execute("INSERT INTO searches (name, query, filters, created) VALUES (?, ?, ?, ?)",
                           ("navies", "navy", "{}", "2026-01-01T00:00:00"))

        _in_thread(save_search)
    with pytest.raises(StoreAccessDenied, match=r"permission denied for table write_lock \(role test_reader\): run as the writer role"):
        build([SEEDS], pg_reader_url, encoder=HashingEncoder())


def test_two_writers_take_turns(pg_url):
    index = PgIndex(pg_url)
    with index.transaction(lock_timeout=0):
        with pytest.raises(IndexLocked, match="is being updated by another process"):
            with index.transaction(lock_timeout=0):
                pass
        with pytest.raises(IndexLocked):
            with index.transaction(lock_timeout=0.3):  # waits in the server, then gives up
                pass
        with connect(pg_url) as probe:
            # The lock is held by a transaction that wrote nothing: it holds back no VACUUM.
            row = probe.execute(
                "SELECT backend_xid, backend_xmin FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'idle in transaction' AND query LIKE 'LOCK TABLE accord.write_lock%'"
            ).fetchone()
            assert row == (None, None)
        entered = threading.Event()

        def second_writer() -> None:
            with index.transaction(lock_timeout=BOUND):
                entered.set()

        waiting = threading.Thread(target=second_writer, daemon=True)
        waiting.start()
        with connect(pg_url, autocommit=True) as probe:
            deadline = time.monotonic() + BOUND
            while not probe.execute(  # the second writer waits in the server's lock queue
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE accord.write_lock%'"
            ).fetchone()[0]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert not entered.is_set()
    waiting.join(BOUND)
    assert entered.is_set()  # the waiting writer went in once the first one finished


def _schema_2_store(url: str) -> None:
    with connect(url) as conn, conn.transaction():
        for _version, statements in MIGRATIONS[:2]:
            for statement in statements:
                conn.execute(statement)
        conn.execute("INSERT INTO accord.meta VALUES ('schema_version', to_jsonb(2))")


def test_a_schema_2_store_is_migrated_by_a_writer_not_by_the_read_only_role(pg_url, pg_reader_url):
    _schema_2_store(pg_url)
    with connect(pg_reader_url) as reader:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            migrate(reader)
        for key in OLD_KEYS:
            reader.execute("SELECT pg_advisory_lock(%s)", (key,))
        reader.commit()

        def upgrade() -> None:
            with connect(pg_url) as conn:
                assert migrate(conn) == 2

        _in_thread(upgrade)
    with connect(pg_url) as conn:
        assert stored_version(conn) == SCHEMA_VERSION == 6
        check_version(conn, "db")
        assert conn.execute("SELECT to_regclass('accord.write_lock') IS NOT NULL").fetchone()[0]
