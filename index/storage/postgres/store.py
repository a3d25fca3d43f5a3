"""The PostgreSQL kind of `Store` (index/storage/base.py): a database with its write
transaction, its generations (read on replicas first) and its watchlist tables.

A `PgStore` holds only its URLs, like the `PgIndex` it extends: share it freely between threads
and processes; each use connects.
"""

from __future__ import annotations

from collections.abc import Sequence

from index.errors import InvalidArgument
from index.storage.base import Store
from index.storage.postgres.generation import PgGeneration
from index.storage.postgres.transaction import PgIndex
from index.storage.postgres.watchlist import PgWatchlistStore


class PgStore(PgIndex, Store):
    """A PostgreSQL database as a `Store`; searches go to the first of `replicas` that answers."""

    supports_replicas = True

    def __init__(self, url: str, replicas: Sequence[str] = ()) -> None:
        super().__init__(url, replicas)

    def watchlist(self) -> PgWatchlistStore:
        """The watchlist tables of this database (index/storage/postgres/watchlist.py)."""
        return PgWatchlistStore(self.url)

    def open_generation(self, k1: float, b: float, model: str | None, idf: str = "lucene") -> PgGeneration:
        """Connect (to a replica first) and read the committed manifest (index/storage/postgres/generation.py).
        Raises InvalidArgument for any idf but Lucene's, the one its BM25 in SQL computes."""
        if idf != "lucene":
            raise InvalidArgument(f"a PostgreSQL store scores with Lucene's idf only, not {idf!r}")
        return PgGeneration.open(self.url, k1, b, model, self.replicas)
