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

A replica that stops is taken out of turn by the first search that finds it gone, and no search
tries it again until a background probe (a direct connection, at growing intervals up to
REPLICA_RETRY_SECONDS) finds it answering: no search waits out a timeout on it. A search whose
connection is lost before it answered raises ReadInterrupted, which the Engine runs once more
from the start, in a new snapshot, on another server (search/engine.py).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from index.errors import (
    IndexIncompatible,
    IndexNotFound,
    ReadInterrupted,
    StoreAccessDenied,
    StoreUnavailable,
)
from index.extras import require
from index.storage.base import ServerHealth
from index.storage.generation import SearchUsers
from index.storage.manifest import Manifest
from index.storage.postgres.connection import CONNECT_TIMEOUT, access_denied, connect, redact

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool


# A replica found down is probed after PROBE_FIRST_SECONDS, then at doubling intervals of at most
# REPLICA_RETRY_SECONDS, until it answers.
REPLICA_RETRY_SECONDS = 5.0
PROBE_FIRST_SECONDS = 0.25
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
    MissingExtra without the 'postgres' extra.

    Counters, for tests and benchmarks: `interrupted` reads that lost their connection,
    `pool_timeouts` borrows that waited out POOL_WAIT_SECONDS, `probes` of servers found down,
    `pools_opened` pools opened (one per server at first use, and again after it came back).
    """

    def __init__(self, primary: str, replicas: Sequence[str]) -> None:
        require("postgres")
        self.primary_url = primary
        self.location = redact(primary)
        self._pools: dict[str, ConnectionPool] = {}
        self._replicas = list(replicas)
        self._down: set[str] = set()
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._holders = 0
        self.interrupted = 0
        self.pool_timeouts = 0
        self.probes = 0
        self.pools_opened = 0

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def let_go(self) -> None:
        with self._lock:
            self._holders -= 1
            last = self._holders <= 0
            pools, self._pools = (list(self._pools.values()), {}) if last else ([], self._pools)
        if last:
            self._closed.set()  # ends the probes
        for pool in pools:
            pool.close()

    def _count(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

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
        # No `check=`: `_borrow` checks each connection itself, so that a dead one leads to
        # asking the server at once rather than waiting for the pool to replace it.
        pool = ConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, open=False, configure=_configure_reader,
            timeout=POOL_WAIT_SECONDS, name=redact(url), kwargs={"connect_timeout": CONNECT_TIMEOUT},
        )
        with self._lock:
            kept = self._pools.setdefault(url, pool)
        if kept is pool:
            pool.open()
            self._count("pools_opened")
        return kept

    def _order(self) -> list[str]:
        """Where to read: the replicas that are up (in turn), then the primary."""
        with self._lock:
            up = [r for r in self._replicas if r not in self._down]
        if up:
            start = next(self._turn) % len(up)
            up = up[start:] + up[:start]
        return up + [self.primary_url]

    @property
    def replicas(self) -> list[str]:
        """The replicas' URLs, as given."""
        return list(self._replicas)

    def health(self, url: str) -> ServerHealth:
        """Whether the server at `url` answers now, and (a replica) how far its replay is behind."""
        role = "primary" if url == self.primary_url else "replica"
        try:
            with connect(url, autocommit=True, timeout=3) as conn:
                row = conn.execute(
                    "SELECT CASE WHEN pg_is_in_recovery() THEN "
                    "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END"
                ).fetchone()
        except StoreUnavailable as err:
            return ServerHealth(redact(url), role, up=False, error=str(err))
        lag = None if row is None or row[0] is None else max(float(row[0]), 0.0)
        return ServerHealth(redact(url), role, up=True, lag_seconds=lag)

    def _set_down(self, url: str) -> None:
        """Take replica `url` out of turn, drop its pool and probe it in the background."""
        with self._lock:
            if url in self._down or self._closed.is_set():
                return
            self._down.add(url)
            pool = self._pools.pop(url, None)
        threading.Thread(target=self._probe, args=(url, pool), name=f"accord-probe {redact(url)}", daemon=True).start()

    def _probe(self, url: str, pool: ConnectionPool | None) -> None:
        """Until `url` answers a direct connection, try again at growing intervals; then put it
        back in turn (its next search opens a new pool)."""
        if pool is not None:
            pool.close(timeout=0)  # its connections died with the server; ones lent out close on return
        wait = PROBE_FIRST_SECONDS
        while not self._closed.wait(wait):
            self._count("probes")
            try:
                connect(url).close()
            except StoreUnavailable:
                wait = min(wait * 2, REPLICA_RETRY_SECONDS)
                continue
            with self._lock:
                self._down.discard(url)
            return

    @contextmanager
    def reader(self) -> Iterator[psycopg.Connection]:
        """A connection for one search, from a replica that is up, else from the primary.
        Raises StoreUnavailable when none answers, ReadInterrupted (a StoreUnavailable) when the
        connection is lost before the search is done: run the whole search again to retry it."""
        import psycopg

        last_error = ""
        for url in self._order():
            try:
                pool = self._pool(url)
                connection = self._borrow(pool, url)
            except StoreUnavailable as err:
                last_error = str(err)
                if url != self.primary_url:
                    self._set_down(url)
                continue
            try:
                yield connection
            except psycopg.errors.InsufficientPrivilege as err:
                raise StoreAccessDenied(access_denied(err, connection.info.user, self.location, writing=False)) from None
            except psycopg.Error as err:
                if not _lost(connection, err):
                    raise
                self._count("interrupted")
                if url != self.primary_url:
                    self._set_down(url)
                said = redact(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
                raise ReadInterrupted(f"{redact(url)}: the connection was lost during a read ({said})") from None
            finally:
                if not connection.closed:
                    try:
                        connection.rollback()  # a read-only transaction: nothing to keep
                    except psycopg.Error:
                        pass  # lost after all: the pool drops it when it comes back
                pool.putconn(connection)
            return
        if self._replicas:
            raise StoreUnavailable(f"no replica of {self.location} answers, nor the primary: {last_error}")
        raise StoreUnavailable(last_error)

    def _borrow(self, pool: ConnectionPool, url: str) -> psycopg.Connection:
        """A working connection from `pool`; StoreUnavailable naming the cause when none comes."""
        import psycopg
        from psycopg_pool import ConnectionPool, PoolClosed, PoolTimeout

        asked = False
        for _ in range(POOL_SIZE + 1):
            try:
                connection = pool.getconn()
            except PoolClosed:  # another search found the server gone and took it out of turn
                raise StoreUnavailable(f"{redact(url)}: not answering") from None
            except (PoolTimeout, psycopg.OperationalError):
                self._count("pool_timeouts")
                connect(url).close()  # raises StoreUnavailable saying why, when the server is the cause
                try:  # the server answers: every pooled connection is busy, so wait a little longer
                    connection = pool.getconn(timeout=POOL_BUSY_SECONDS)
                except (PoolTimeout, psycopg.OperationalError) as err:
                    raise StoreUnavailable(f"{redact(url)}: no pooled connection came free ({redact(str(err).strip())})") from None
            try:
                ConnectionPool.check_connection(connection)
                return connection
            except psycopg.Error:
                pool.putconn(connection)  # broken: the pool drops it and opens another
            if not asked:  # the first dead one: is the server gone? (StoreUnavailable at once if so)
                connect(url).close()
                asked = True
        raise StoreUnavailable(f"{redact(url)}: every pooled connection was broken")


def _lost(connection: psycopg.Connection, err: BaseException) -> bool:
    """True when `err` means the connection is gone (the server shut down or the link broke),
    so the read may run again elsewhere; False for an error of the read itself.

    A server that shuts down sends its sessions a last error (AdminShutdown) and closes them.
    Most often psycopg raises that error and marks the connection broken; but when it arrives
    in a pipeline (the keyword leg's) before the closed socket is read, psycopg raises
    "cannot exit pipeline mode while busy" instead, on a connection not (yet) marked broken.
    Such errors come from the client library, not the server, and carry no SQLSTATE: every
    error of the server about the read itself (a syntax error, a statement timeout) has one."""
    import psycopg
    from psycopg import errors

    gone = (errors.AdminShutdown, errors.CrashShutdown, errors.CannotConnectNow)
    if connection.broken or connection.closed or isinstance(err, gone) or isinstance(err.__context__, gone):
        return True
    return isinstance(err, psycopg.OperationalError) and err.sqlstate is None


def _quiet_pool_log() -> None:
    """Keep psycopg_pool's retry warnings, and psycopg's own about a pipeline cut off with its
    connection, off stderr where the application configured no logging (Accord reports the
    cause itself, in one line, or retries the search); an application that configured logging
    still receives them through its own handlers."""
    import logging

    logger = logging.getLogger("psycopg")  # psycopg.pool's parent
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _configure_reader(conn: psycopg.Connection) -> None:
    """Each pooled connection reads in REPEATABLE READ, READ ONLY transactions: a search sees
    one committed state from its first statement to its last. It prepares no statements: psycopg
    forgets them at every rollback (each search's end) anyway, and behind PgBouncer in
    transaction mode one left on a server connection collides with the next client's of the
    same name ("prepared statement _pg3_0 already exists")."""
    from psycopg import IsolationLevel

    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    conn.prepare_threshold = None


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

    def servers(self) -> list[ServerHealth]:
        """The primary and each replica, asked now on a direct connection (3 s at most each):
        up or not, and a replica's replay lag."""
        return [self.connections.health(url) for url in [self.connections.primary_url, *self.connections.replicas]]

    def counters(self) -> dict[str, int]:
        """The connections' counters (shared by the generations of one store opened by an Engine)."""
        c = self.connections
        return {"interrupted": c.interrupted, "pool_timeouts": c.pool_timeouts, "probes": c.probes,
                "pools_opened": c.pools_opened}

    def _close(self) -> None:
        self.connections.let_go()


def _read_manifest(connections: PgConnections) -> tuple[Manifest, str | None]:
    """The store's manifest, and the schema of pg_textsearch when the store has its index."""
    from index.storage.postgres import textsearch
    from index.storage.postgres.schema import check_version
    from index.storage.postgres.transaction import read_manifest

    for attempt in (1, 2):
        try:
            with connections.reader() as conn:
                check_version(conn, connections.location)
                manifest = read_manifest(conn, connections.location)
                textsearch_schema = textsearch.index_schema(conn)
            break
        except ReadInterrupted:
            if attempt == 2:  # once more, on another server (the one that failed is out of turn)
                raise
    if manifest is None:
        raise IndexNotFound(f"no Accord index in {connections.location}; build one with 'accord index PATH --db URL'")
    return manifest, textsearch_schema
