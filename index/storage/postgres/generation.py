"""A PostgreSQL store's open generation: what an Engine searches when the index is a database.

Each search borrows a pooled connection (psycopg_pool; from a read replica when there is one,
else the primary) and reads in one REPEATABLE READ, READ ONLY transaction, so it sees one
committed state even while a writer commits. `PgConnections` is shared by the generations of
one Engine and is thread-safe, as is `PgGeneration`.

A server that cannot be used is reported in one line naming the cause within a few seconds: a
pool is opened only after one direct connection succeeded (so a wrong password, a missing
database or a refused connection is told at once, not after the pool's retries), a pool is
waited on for POOL_WAIT_SECONDS before the server is asked directly why, and the pool's own
retry warnings are not printed (see `_quiet_pool_log`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from index.errors import IndexIncompatible, IndexNotFound, StoreAccessDenied, StoreUnavailable
from index.extras import require
from index.storage.generation import SearchUsers
from index.storage.manifest import Manifest
from index.storage.postgres.connection import CONNECT_TIMEOUT, access_denied, connect, redact

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool


REPLICA_RETRY_SECONDS = 5.0
POOL_SIZE = 8
# How long a search waits for a pooled connection before asking the server directly what is
# wrong; when the server answers (every connection is busy), it waits POOL_BUSY_SECONDS more.
POOL_WAIT_SECONDS = 3.0
POOL_BUSY_SECONDS = 7.0


@dataclass
class _PgView:
    manifest: Manifest
    keyword: Any
    vectors: Any
    docs: Any
    # Every store reads through the same connection (one snapshot), which runs one statement
    # at a time: the engine must not run two legs' SQL at once on it.
    one_connection: bool = True


class PgConnections:
    """Connection pools to a primary and its read replicas (psycopg_pool), shared by the
    generations of one Engine and closed with the last of them. Thread-safe. Raises
    MissingExtra without the 'postgres' extra."""

    def __init__(self, primary: str, replicas: Sequence[str]) -> None:
        require("postgres")
        self.primary_url = primary
        self.location = redact(primary)
        self._pools: dict[str, ConnectionPool] = {}
        self._replicas = list(replicas)
        self._down: dict[str, float] = {}
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._holders = 0

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def let_go(self) -> None:
        with self._lock:
            self._holders -= 1
            last = self._holders <= 0
            pools, self._pools = (list(self._pools.values()), {}) if last else ([], self._pools)
        for pool in pools:
            pool.close()

    def _pool(self, url: str) -> ConnectionPool:
        with self._lock:
            pool = self._pools.get(url)
        if pool is not None:
            return pool
        from psycopg_pool import ConnectionPool

        # One direct connection first: a server that refuses us says why at once (raises
        # StoreUnavailable), where a pool would retry in the background until its timeout.
        connect(url).close()
        _quiet_pool_log()
        pool = ConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, open=False, configure=_configure_reader,
            check=ConnectionPool.check_connection, timeout=POOL_WAIT_SECONDS, name=redact(url),
            kwargs={"connect_timeout": CONNECT_TIMEOUT},
        )
        with self._lock:
            kept = self._pools.setdefault(url, pool)
        if kept is pool:
            pool.open()
        return kept

    def _order(self) -> list[str]:
        """Where to read: the replicas that are up (in turn), then the primary."""
        now = time.monotonic()
        up = [r for r in self._replicas if self._down.get(r, 0.0) <= now]
        if up:
            start = next(self._turn) % len(up)
            up = up[start:] + up[:start]
        return up + [self.primary_url]

    @contextmanager
    def reader(self) -> Iterator[psycopg.Connection]:
        """A connection for one search, from a replica that is up, else from the primary.
        Raises StoreUnavailable when none answers."""
        import psycopg

        last_error = ""
        for url in self._order():
            try:
                pool = self._pool(url)
                connection = self._borrow(pool, url)
            except StoreUnavailable as err:
                last_error = str(err)
                if url != self.primary_url:
                    self._down[url] = time.monotonic() + REPLICA_RETRY_SECONDS
                continue
            try:
                yield connection
            except psycopg.errors.InsufficientPrivilege as err:
                raise StoreAccessDenied(access_denied(err, connection.info.user, self.location, writing=False)) from None
            finally:
                if not connection.closed:
                    connection.rollback()  # a read-only transaction: nothing to keep
                pool.putconn(connection)
            return
        if self._replicas:
            raise StoreUnavailable(f"no replica of {self.location} answers, nor the primary: {last_error}")
        raise StoreUnavailable(last_error)

    @staticmethod
    def _borrow(pool: ConnectionPool, url: str) -> psycopg.Connection:
        """A connection from `pool`; StoreUnavailable naming the cause when none comes."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            return pool.getconn()
        except (PoolTimeout, psycopg.OperationalError):
            pass
        connect(url).close()  # raises StoreUnavailable saying why, when the server is the cause
        try:  # the server answers: every pooled connection is busy, so wait a little longer
            return pool.getconn(timeout=POOL_BUSY_SECONDS)
        except (PoolTimeout, psycopg.OperationalError) as err:
            raise StoreUnavailable(f"{redact(url)}: no pooled connection came free ({redact(str(err).strip())})") from None


def _quiet_pool_log() -> None:
    """Keep psycopg_pool's retry warnings off stderr where the application configured no logging
    (Accord reports the cause itself, in one line); an application that configured logging
    still receives them through its own handlers."""
    import logging

    logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _configure_reader(conn: psycopg.Connection) -> None:
    """Each pooled connection reads in REPEATABLE READ, READ ONLY transactions: a search sees
    one committed state from its first statement to its last."""
    from psycopg import IsolationLevel

    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True


class PgGeneration(SearchUsers):
    """A PostgreSQL store as last committed when this object was made (its manifest); every
    search reads the newest committed state in its own snapshot."""

    def __init__(
        self, connections: PgConnections, manifest: Manifest, k1: float, b: float, *,
        textsearch_schema: str | None = None, textsearch_on: bool = False,
    ) -> None:
        super().__init__()
        self.connections = connections
        self.manifest = manifest
        self._k1, self._b = k1, b
        # Where searches find pg_textsearch to take keyword candidates from the store's index,
        # or None: the store had no index when this generation was read, or ACCORD_PG_TEXTSEARCH
        # was not on at open (the choice made at open holds for the Engine's newer generations).
        self._textsearch_on = textsearch_on
        self.textsearch_schema = textsearch_schema if textsearch_on else None
        connections.hold()

    @classmethod
    def open(cls, url: str, k1: float, b: float, model: str | None, replicas: Sequence[str] = ()) -> PgGeneration:
        """Connect and read the manifest; IndexNotFound for a database without an index."""
        from index.storage.postgres import textsearch

        connections = PgConnections(url, replicas)
        connections.hold()  # until this open has finished, whatever happens
        try:
            manifest, textsearch_schema = _read_manifest(connections)
            if model is not None and model != manifest.model:
                raise IndexIncompatible(
                    f"{connections.location} was built with {manifest.model}, not {model}; rebuild it with 'accord index --rebuild'"
                )
            return cls(connections, manifest, k1, b, textsearch_schema=textsearch_schema,
                       textsearch_on=textsearch.switched_on())
        finally:
            connections.let_go()

    @contextmanager
    def reading(self) -> Iterator[_PgView]:
        """The stores over one pooled connection, in one read-only snapshot."""
        from index.storage.postgres.docstore import PgDocStore
        from index.storage.postgres.keyword import PgKeywordStore
        from index.storage.postgres.vectors import PgVectorStore

        with self.connections.reader() as conn:
            yield _PgView(
                manifest=self.manifest,
                keyword=PgKeywordStore(conn, self._k1, self._b, textsearch_schema=self.textsearch_schema,
                                       detect_textsearch=False),
                vectors=PgVectorStore(conn, self.manifest.dim),
                docs=PgDocStore(conn),
            )

    def newer(self, model: str) -> PgGeneration | None:
        """A generation with the manifest of the last committed update, if there was one."""
        manifest, textsearch_schema = _read_manifest(self.connections)
        if manifest.generation == self.manifest.generation:
            return None
        if manifest.model != model:
            raise IndexIncompatible(
                f"{self.connections.location} was rebuilt with {manifest.model}, not {model}; open it again"
            )
        return PgGeneration(self.connections, manifest, self._k1, self._b, textsearch_schema=textsearch_schema,
                            textsearch_on=self._textsearch_on)

    def _close(self) -> None:
        self.connections.let_go()


def _read_manifest(connections: PgConnections) -> tuple[Manifest, str | None]:
    """The store's manifest, and the schema of pg_textsearch when the store has its index."""
    from index.storage.postgres import textsearch
    from index.storage.postgres.schema import check_version
    from index.storage.postgres.transaction import read_manifest

    with connections.reader() as conn:
        check_version(conn, connections.location)
        manifest = read_manifest(conn, connections.location)
        textsearch_schema = textsearch.index_schema(conn)
    if manifest is None:
        raise IndexNotFound(f"no Accord index in {connections.location}; build one with 'accord index PATH --db URL'")
    return manifest, textsearch_schema
