"""Passage vectors in PostgreSQL with pgvector: exact search, or HNSW past a size.

Vectors are unit length, so the inner product (`<#>` is its negative) is the cosine, as in the
faiss store. Below HNSW_THRESHOLD passages a search is exact (a scan); from it the writer builds
an HNSW index and unfiltered searches use it (filtered ones stay exact over the allowed rows),
so from there the semantic leg is approximate, as the local store's is from the same size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from index.errors import IndexCorrupted

if TYPE_CHECKING:
    import numpy as np
    import psycopg

# Exact search scans every vector; from this many an HNSW index answers unfiltered searches.
# pgvector's scan is much slower than faiss's: on real MiniLM passage vectors, exact top-100
# p50 50 ms at 20,000 vectors and 189 ms at 100,000, HNSW 11.5 and 29.7 ms at recall@100 0.990
# and 0.976 (benchmarks/postgres/bench_pgvector.py, docs/performance.md, the PostgreSQL store). The local
# store's graph starts at the same size (index/storage/vectors.py), for CPU rather than latency.
HNSW_THRESHOLD = 20_000
HNSW_EF_SEARCH = 128
# pgvector's largest hnsw.ef_search: an HNSW scan returns at most this many rows, so a search
# for more is exact. Asking the index for more came back short, and the engine's semantic leg,
# widening 4x while short of articles, ended asking for every vector (a sort of the table plus
# mapping 409,600 passages: 2 s at 476,700; docs/performance.md, the PostgreSQL store).
HNSW_MAX_EF_SEARCH = 1000
_HNSW_INDEX = "passages_hnsw"


def _registered(conn: psycopg.Connection) -> psycopg.Connection:
    """`conn` with pgvector's type adapters (numpy arrays in and out)."""
    if not getattr(conn, "_accord_vector", False):
        from pgvector.psycopg import register_vector

        register_vector(conn)
        conn._accord_vector = True  # type: ignore[attr-defined]
    return conn


def _array(value: object) -> object:
    """A stored vector as something numpy reads (pgvector gives its own Vector type)."""
    to_numpy = getattr(value, "to_numpy", None)
    return to_numpy() if to_numpy is not None else value


class PgVectorStore:
    """Nearest-passage search over `accord.passages.embedding`, on the caller's connection."""

    def __init__(self, conn: psycopg.Connection, dim: int) -> None:
        self._raw = conn
        self.dim = int(dim)  # formatted into the SQL as a type modifier: an int, never text

    @property
    def _conn(self) -> psycopg.Connection:
        # Registered on first use: a keyword-only search never imports numpy and pgvector.
        return _registered(self._raw)

    def __len__(self) -> int:
        # The passage count the last committed update recorded (every passage has its vector,
        # which `accord index --check` verifies): a count(*) scans the table, 0.3 s at 95,000
        # passages, and the semantic leg asks on every search.
        row = self._raw.execute("SELECT (value ->> 'passages')::bigint FROM accord.meta WHERE key = 'manifest'").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The `limit` passage ids nearest to `vector` by cosine, among `allowed` ids when given:
        through the HNSW index (approximate) when there is one, no filter and at most
        HNSW_MAX_EF_SEARCH are asked for, else exact."""
        import numpy as np

        if limit <= 0 or (allowed is not None and not len(allowed)):
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)
        if query.shape[0] != self.dim:
            raise IndexCorrupted(f"the query vector has {query.shape[0]} dimensions, the store {self.dim}")
        typed = f"embedding::vector({self.dim})"
        if allowed is None and limit <= HNSW_MAX_EF_SEARCH:
            self._conn.execute(f"SET LOCAL hnsw.ef_search = {max(HNSW_EF_SEARCH, int(limit))}")
            rows = self._conn.execute(
                f"SELECT id, -({typed} <#> %s::vector({self.dim})) AS score FROM accord.passages "
                # ORDER BY the distance alone: anything more (an id to break ties) and PostgreSQL
                # sorts a full scan instead of walking the HNSW index (measured: 250 ms instead of
                # tens at 95,000 passages). The engine orders equal scores by id afterwards.
                f"WHERE embedding IS NOT NULL ORDER BY {typed} <#> %s::vector({self.dim}) LIMIT %s",
                (query, query, int(limit)),
            ).fetchall()
        else:
            # Exact: over the allowed rows, or for more rows than an HNSW scan returns (ordering by
            # score and id keeps PostgreSQL from walking the index).
            only = "" if allowed is None else "id = ANY(%s) AND "
            ids = () if allowed is None else ([int(i) for i in allowed],)
            rows = self._conn.execute(
                f"SELECT id, -({typed} <#> %s::vector({self.dim})) AS score FROM accord.passages "
                f"WHERE {only}embedding IS NOT NULL ORDER BY score DESC, id LIMIT %s",
                (query, *ids, int(limit)),
            ).fetchall()
        return [(int(pid), float(score)) for pid, score in rows]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids, in that order."""
        import numpy as np

        wanted = [int(i) for i in ids]
        found: dict[int, object] = dict(self._conn.execute(
            "SELECT id, embedding FROM accord.passages WHERE id = ANY(%s)", (wanted,)
        ).fetchall())
        if not wanted:
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([np.asarray(_array(found[i]), dtype=np.float32) for i in wanted])

    def hold(self) -> None:
        """Nothing: the server reads its own pages."""

    def close(self) -> None:
        """Nothing to release: the connection belongs to the caller."""


class PgVectorWriter:
    """Writes passage vectors inside the caller's open transaction; builds the HNSW index when
    the store grows past `hnsw_threshold`."""

    def __init__(self, conn: psycopg.Connection, dim: int, hnsw_threshold: int | None = None) -> None:
        self._conn = _registered(conn)
        self.dim = int(dim)
        self._hnsw_threshold = HNSW_THRESHOLD if hnsw_threshold is None else hnsw_threshold

    def remove(self, ids: Sequence[int]) -> None:
        """Forget these passages' vectors (their rows are usually deleted with their article)."""
        self._conn.execute("UPDATE accord.passages SET embedding = NULL WHERE id = ANY(%s)", ([int(i) for i in ids],))

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Store the vectors of passages `ids` (rows written by the article store)."""
        import numpy as np

        if not len(ids):
            return
        if vectors.shape[1] != self.dim:
            raise IndexCorrupted(f"vectors of {vectors.shape[1]} dimensions for a store of {self.dim}")
        with self._conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE accord.passages SET embedding = %s WHERE id = %s",
                [(np.asarray(v, dtype=np.float32), int(i)) for i, v in zip(ids, vectors)],
            )

    def commit(self) -> None:
        """Build the HNSW index once the store is large enough (in the same transaction)."""
        exists = self._conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"accord.{_HNSW_INDEX}",)).fetchone()
        if exists and exists[0]:
            return
        count = self._conn.execute("SELECT count(*) FROM accord.passages WHERE embedding IS NOT NULL").fetchone()
        if count and count[0] >= self._hnsw_threshold:
            self._conn.execute(
                f"CREATE INDEX {_HNSW_INDEX} ON accord.passages USING hnsw "
                f"((embedding::vector({self.dim})) vector_ip_ops) WITH (m = 16, ef_construction = 64)"
            )

    def cancel(self) -> None:
        """Nothing buffered: the transaction's rollback undoes the writes."""
