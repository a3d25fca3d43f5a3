"""The one place that turns a location into a `Store` (index/storage/base.py).

A location is an index folder (a path) or a PostgreSQL database (a postgresql:// URL). Nothing
outside the store package tells them apart: the builder, the engine, the web app and the CLI
pass locations (or stores) through `open_store` and use the `Store` it returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import InvalidArgument
from index.storage.base import Store
from index.storage.folder import FolderStore
from index.storage.postgres.connection import database_url, is_database_url, redact

if TYPE_CHECKING:
    from index.storage.postgres.local_server import LocalDatabase

# The URL side of the command line's --db/$ACCORD_DATABASE_URL, and hiding a URL's password in
# messages, belong to the store package too; they are offered here so callers need no other.
__all__ = ["Store", "database_url", "local_database", "open_store", "redact"]


def open_store(location: Path | str | Store, *, replicas: Sequence[str] = ()) -> Store:
    """The store at `location`: a `Store` as it is, a postgresql:// URL as a PostgreSQL store
    (searched on `replicas` first), anything else as an index folder (`~` expanded).

    Opens nothing: each use of the store connects or reads what it needs. Raises
    InvalidArgument for replicas of a store that has none (a folder).
    """
    if isinstance(location, Store):
        store = location
    elif is_database_url(location):
        from index.storage.postgres.store import PgStore

        return PgStore(str(location), replicas)
    else:
        store = FolderStore(location)
    if replicas and not store.supports_replicas:
        raise InvalidArgument("--replica needs a PostgreSQL store (--db URL), not an index folder")
    if replicas and tuple(replicas) != store.replicas:
        raise InvalidArgument("name the replicas when the store is first opened, not again")
    return store


def local_database(data_dir: Path | None = None) -> LocalDatabase:
    """The local PostgreSQL server of `accord db` whose data lives in `data_dir` (default: the
    user's data folder); index/storage/postgres/local_server.py. Opens nothing."""
    from index.storage.postgres.local_server import LocalDatabase

    return LocalDatabase(data_dir)
