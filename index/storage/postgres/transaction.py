"""Writing a PostgreSQL store: the same write transaction as an index folder's, in SQL.

    index = PgIndex(url)
    with index.transaction(lock_timeout=0, fresh=False) as tx:
        tx.previous, tx.sources          # read once the write lock is held
        tx.begin()                       # a database transaction
        with tx.articles() as docs: ...  # the writers write into it
        with tx.vectors(dim) as vectors: ...
        with tx.keywords(title_boost) as keywords: ...
        tx.publish(manifest)             # COMMIT: readers see all of the batch or none of it

Writers are serialised by a lock taken first (a second writer waits up to `lock_timeout`
seconds, then gets IndexLocked), and the manifest and source list are read only once it is held,
so a writer that waited builds on what the first one committed: no lost update. The lock is
schema.WRITE_LOCK, a table lock a read-only role cannot take, held for the whole update by an
open transaction on a second connection of the writer's (its batches commit on the first); that
transaction writes nothing, so it holds back neither VACUUM nor readers. A writer killed at any
point loses only its uncommitted batch: the server rolls it back when the connections drop and
releases the lock. Readers never wait for writers (MVCC).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import AccordError, IndexLocked, IndexWriteError, InvalidArgument, StoreAccessDenied, StoreUnavailable
from index.storage.manifest import BuildSettings, Manifest, manifest_from_dict
from index.storage.postgres import textsearch
from index.storage.postgres.connection import access_denied, connect, redact
from index.storage.postgres.schema import WRITE_LOCK, check_version, migrate, stored_version
from index.storage.transaction import committed

if TYPE_CHECKING:
    import psycopg

    from index.storage.postgres.docstore import PgDocStore, PgDocStoreWriter
    from index.storage.postgres.keyword import PgKeywordWriter
    from index.storage.postgres.vectors import PgVectorWriter

# Tables emptied by a rebuild (in the rebuild's own transaction, so readers keep the old data
# until it commits; DELETE rather than TRUNCATE, which would block them).
_DATA_TABLES = ("kw_postings", "kw_docs", "kw_fields", "bands", "passages", "articles", "files")


def read_manifest(conn: psycopg.Connection, where: str) -> Manifest | None:
    """The store's manifest as its last update committed it, or None for a new store."""
    row = conn.execute("SELECT value FROM accord.meta WHERE key = 'manifest'").fetchone()
    return manifest_from_dict(row[0], where) if row else None


def read_generation(conn: psycopg.Connection) -> str | None:
    """The generation counter readers poll (as a string), or None before the first update."""
    row = conn.execute("SELECT value FROM accord.meta WHERE key = 'generation'").fetchone()
    return str(row[0]) if row else None


class PgIndex:
    """An index in a PostgreSQL database, as a writer sees it (`index.storage.postgres.store.PgStore`
    is the PostgreSQL kind of `Store` built on it).

    Holds only the URL (and the read replicas searches prefer); each call connects. `path` is
    the URL with its password hidden (what reports and messages show).
    """

    def __init__(self, url: str, replicas: Sequence[str] = ()) -> None:
        self.url = url
        self.path = redact(url)
        self.replicas = tuple(replicas)

    @property
    def location(self) -> str:
        """The URL without its password."""
        return self.path

    def raw_manifest(self) -> dict:
        """The stored manifest's JSON, or {} (no store, no tables yet). Raises StoreUnavailable,
        naming the cause, when the server cannot be reached: nothing could be done with it."""
        with connect(self.url) as conn:
            if stored_version(conn) is None:
                return {}
            row = conn.execute("SELECT value FROM accord.meta WHERE key = 'manifest'").fetchone()
            return row[0] if row and isinstance(row[0], dict) else {}

    def exists(self) -> bool:
        """True when the database holds an Accord manifest."""
        return bool(self.raw_manifest())

    def known_sources(self) -> list[str]:
        """The sources the stored manifest lists."""
        sources = self.raw_manifest().get("sources")
        return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []

    def recovered_sources(self) -> list[str]:
        """A database keeps no damaged manifests to recover from: the known sources."""
        return self.known_sources()

    @property
    def default_cache_path(self) -> Path:
        """The local embedding cache for this database (one per server and database), under
        $ACCORD_CACHE_DIR or ~/.cache/accord."""
        root = Path(os.environ.get("ACCORD_CACHE_DIR") or Path.home() / ".cache" / "accord").expanduser()
        digest = hashlib.sha256(self.path.encode()).hexdigest()[:16]
        root.mkdir(parents=True, exist_ok=True)
        return root / f"embeddings-pg-{digest}.sqlite"

    def transaction(self, *, lock_timeout: float = 0.0, fresh: bool = False) -> PgWriteTransaction:
        """A write transaction on this store (enter it to take the lock)."""
        return PgWriteTransaction(self, lock_timeout, fresh)



class PgWriteTransaction:
    """One writer's change to a PostgreSQL store, as a context manager (see the module doc).

    One thread uses a transaction; the write lock keeps other writers (in any process, on any
    machine) out.
    """

    def __init__(self, index: PgIndex, lock_timeout: float = 0.0, fresh: bool = False) -> None:
        self.store = index
        self.lock_timeout = lock_timeout
        self.fresh = fresh
        self.previous: Manifest | None = None
        self.sources: list[str] = []
        self.live: str | None = None
        self.published: list[str] = []
        self._conn: psycopg.Connection | None = None
        self._lock_conn: psycopg.Connection | None = None
        self._pending: str | None = None

    # -- lock ------------------------------------------------------------------------------
    def __enter__(self) -> PgWriteTransaction:
        conn = connect(self.store.url)
        self._conn = conn
        try:
            try:
                migrate(conn)
            except Exception as err:
                raise _named_fault(err, self.store.path, _role(conn)) or err from None
            self._lock_conn = self._lock()
            check_version(conn, self.store.path)
            with conn.transaction():
                # Under the write lock, so writers do not race to create it; see textsearch.py.
                # Whether it exists, and why not, shows in `accord stats`.
                if textsearch.switched_on():
                    textsearch.ensure_index(conn)
            with conn.transaction():
                stored = read_manifest(conn, self.store.path)
                self.live = read_generation(conn)
            self.sources = list(stored.sources) if stored else []
            self.previous = None if self.fresh else stored
        except BaseException:
            self._release()
            conn.close()
            self._conn = None
            raise
        return self

    def _lock(self) -> psycopg.Connection:
        """A connection whose open transaction holds the write lock (waiting up to `lock_timeout`
        seconds for another writer); IndexLocked when it is still held, StoreAccessDenied for a
        role that may not write."""
        import psycopg

        conn = connect(self.store.url)
        try:
            # Idle between this writer's batches, for as long as the update takes.
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', '0', false)")
            if self.lock_timeout > 0:
                # PostgreSQL waits (0 would mean for ever; a day is the most Accord asks).
                wait_ms = max(1, min(round(self.lock_timeout * 1000), 86_400_000))
                conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{wait_ms}ms",))
                conn.execute(WRITE_LOCK)
            else:
                conn.execute(WRITE_LOCK + " NOWAIT")
        except psycopg.errors.LockNotAvailable:
            conn.close()
            raise IndexLocked(f"{self.store.path} is being updated by another process; try again when it has finished") from None
        except psycopg.errors.InsufficientPrivilege as err:
            role = _role(conn)
            conn.close()
            raise StoreAccessDenied(access_denied(err, role, self.store.path, writing=True)) from None
        except BaseException:
            conn.close()
            raise
        return conn

    def _release(self) -> None:
        """Let the next writer in: ending the lock's transaction releases it."""
        lock, self._lock_conn = self._lock_conn, None
        if lock is not None:
            lock.close()

    def __exit__(self, exc_type, exc, tb) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        role = _role(conn)
        try:
            if self._pending is not None and not conn.closed:
                conn.rollback()
            self._pending = None
            if exc is None and self.published:
                _vacuum(conn)
        finally:
            conn.close()
            self._release()
        if exc is not None and not isinstance(exc, AccordError | KeyboardInterrupt):
            named = _named_fault(exc, self.store.path, role)
            if named is not None:
                raise named from None

    # -- batches ---------------------------------------------------------------------------
    @property
    def connection(self) -> psycopg.Connection:
        if self._conn is None:
            raise RuntimeError("enter the transaction first")
        return self._conn

    @property
    def generation(self) -> str:
        """The generation being written (after `begin`)."""
        if self._pending is None:
            raise RuntimeError("begin() a generation first")
        return self._pending

    @contextmanager
    def live_store(self) -> Iterator[PgDocStore | None]:
        """The article store as last committed (None for a new or rebuilt store)."""
        from index.storage.postgres.docstore import PgDocStore

        if self.previous is None:
            yield None
            return
        yield PgDocStore(self.connection)

    def begin(self, copy: bool = True) -> str:
        """Start the next batch; with `copy` False (a rebuild's first batch) the store is emptied
        inside it, so readers keep the old contents until it commits."""
        if self._pending is not None:
            raise RuntimeError("publish the current generation before beginning another")
        conn = self.connection
        row = conn.execute("SELECT coalesce((SELECT value::bigint FROM accord.meta WHERE key = 'generation'), 0) + 1").fetchone()
        self._pending = str(row[0]) if row else "1"
        if not copy:
            for table in _DATA_TABLES:
                conn.execute(f"DELETE FROM accord.{table}")  # constant names from this module
        return self._pending

    @contextmanager
    def articles(self) -> Iterator[PgDocStoreWriter]:
        """The article store, writing into the open batch."""
        from index.storage.postgres.docstore import PgDocStoreWriter

        yield PgDocStoreWriter(self.connection)

    def last_batch(self) -> None:
        """Say that the batch being written is the run's last: nothing to do here, as the
        keyword postings are one table, not segments to merge (see the folder store's)."""

    @contextmanager
    def keywords(
        self, title_boost: float, stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words
    ) -> Iterator[PgKeywordWriter]:
        """The keyword postings, written into the open batch when the block ends without error.
        InvalidArgument for another analysis than the default: the store's readers and its
        pg_textsearch index analyse text one way only."""
        from index.storage.postgres.keyword import PgKeywordWriter

        if (stemmer, stop_words) != (BuildSettings.stemmer, BuildSettings.stop_words):
            raise InvalidArgument(
                f"a PostgreSQL store indexes with stemmer {BuildSettings.stemmer!r} and stop_words "
                f"{BuildSettings.stop_words!r} only, "
                f"not {stemmer!r} and {stop_words!r}; build an index folder to try another analysis"
            )
        with committed(PgKeywordWriter(self.connection, title_boost)) as writer:
            yield writer

    @contextmanager
    def vectors(self, dim: int) -> Iterator[PgVectorWriter]:
        """The passage vectors, written into the open batch."""
        from index.storage.postgres.vectors import PgVectorWriter

        with committed(PgVectorWriter(self.connection, dim)) as writer:
            yield writer

    def publish(self, manifest: Manifest) -> None:
        """Record the manifest, advance the generation counter and COMMIT the batch."""
        if manifest.generation != self._pending:
            raise ValueError(f"the manifest names {manifest.generation}, the transaction wrote {self._pending}")
        conn = self.connection
        conn.execute(
            "INSERT INTO accord.meta VALUES ('manifest', %s::jsonb), ('generation', to_jsonb(%s::bigint)) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (manifest.to_json(), int(manifest.generation)),
        )
        conn.commit()
        self.live = manifest.generation
        self.published.append(manifest.generation)
        self._pending = None


def _vacuum(conn: psycopg.Connection) -> None:
    """VACUUM (ANALYZE) the tables a build wrote: fresh planner statistics, and the visibility map
    that lets the keyword leg score from the postings index alone (an index-only scan), instead of
    waiting for autovacuum. Best effort: a role that may not vacuum still has its build."""
    import psycopg

    try:
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) accord.kw_postings, accord.kw_terms, accord.kw_docs, accord.passages, accord.articles")
    except psycopg.Error:
        pass


def _role(conn: psycopg.Connection) -> str | None:
    """The role `conn` logged in as (None once the connection is gone)."""
    try:
        return conn.info.user
    except Exception:  # noqa: BLE001 - a closed connection has none to tell
        return None


def _named_fault(err: BaseException, where: str, role: str | None) -> AccordError | None:
    """A database fault as a one-line AccordError naming the store (None: not a store fault)."""
    import psycopg

    if isinstance(err, psycopg.errors.InsufficientPrivilege):
        return StoreAccessDenied(access_denied(err, role, where, writing=True))
    if isinstance(err, psycopg.errors.DiskFull):
        return IndexWriteError(f"{where}: the database server is out of disk space; nothing of this batch was kept")
    if isinstance(err, psycopg.OperationalError):
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return StoreUnavailable(f"{where}: the connection failed during the update ({first}); what was published is kept")
    return None

