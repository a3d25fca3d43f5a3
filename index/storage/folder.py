"""The folder kind of `Store` (index/storage/base.py): an index directory with its write
transaction, its generations and its watchlist file.

A `FolderStore` holds only its path, like the `IndexDirectory` it extends: share it freely
between threads and processes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from index.storage.base import Store
from index.storage.directory import IndexDirectory
from index.storage.generation import LocalGeneration

if TYPE_CHECKING:
    from index.storage.transaction import WriteTransaction
    from index.storage.watchlist import SqliteWatchlistStore


class FolderStore(IndexDirectory, Store):
    """An index folder as a `Store`."""

    def transaction(self, *, lock_timeout: float = 0.0, fresh: bool = False) -> WriteTransaction:
        """A write transaction on this folder (index/storage/transaction.py; enter it to take the lock)."""
        from index.storage.transaction import WriteTransaction  # a search never loads the write path

        return WriteTransaction(self, lock_timeout=lock_timeout, fresh=fresh)

    def watchlist(self) -> SqliteWatchlistStore:
        """`watchlist.sqlite` in this folder (index/storage/watchlist.py)."""
        from index.storage.watchlist import SqliteWatchlistStore

        return SqliteWatchlistStore(self.path)

    def open_generation(self, k1: float, b: float, model: str | None, idf: str = "lucene") -> LocalGeneration:
        """Lease and open the live generation (index/storage/generation.py)."""
        return LocalGeneration.open(self.path, k1, b, model, idf)
