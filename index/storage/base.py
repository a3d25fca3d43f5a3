"""The store interface: what every kind of index home (a folder, a PostgreSQL database) offers.

`index.storage.factory.open_store` is the one place that turns a location (a path or a
postgresql:// URL) into a `Store`; everything above storage (the builder, the engine, the web
app, the CLI) is written once against these types and never asks which kind it has. The two
implementations sit side by side: `IndexDirectory` (index/storage/directory.py) and `PgIndex`
(index/storage/postgres/transaction.py), with their generations in index/storage/generation.py
and index/storage/postgres/generation.py.

- A `Store` is a handle on a location: it holds no open files or connections and may be shared
  between threads and processes (each call opens what it needs).
- A `Generation` is one open, committed state of the store, safe to share between threads;
  `reading()` hands one search a `StoreView`, whose stores answer that search.
- What the ranker must know about a view is declared here (`StoreView.one_connection`,
  `KeywordStore.fast_path`), never probed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from index.storage.docstore import StoredPassage
    from index.storage.keyword import KeywordStore
    from index.storage.manifest import Manifest
    from index.storage.vectors import VectorStore
    from index.text.articles import Article
    from index.text.defence_facts import DefenceFacts


class ArticleReader(Protocol):
    """The read side of a store's articles, passages and near-duplicate groups."""

    def article(self, article_id: str) -> Article | None: ...
    def articles(self, article_ids: Sequence[str]) -> dict[str, Article]: ...
    def dates(self, article_ids: Sequence[str]) -> dict[str, str | None]: ...
    def passages_of(self, article_id: str) -> list[StoredPassage]: ...
    def passages_by_article(self, article_ids: Sequence[str]) -> dict[str, list[StoredPassage]]: ...
    def passage_articles(self, ids: Sequence[int]) -> dict[int, str]: ...
    def passage_ids_of(self, article_ids: Sequence[str]) -> list[int]: ...
    def passage_ids_by_article(self, article_ids: Sequence[str]) -> dict[str, list[int]]:
        """Each of these articles' passage ids in body order, as `passages_by_article` gives
        their passages (an article without passages left out), without the passages' spans."""
        ...
    def articles_in_countries(self, countries: Sequence[str]) -> set[str]: ...
    def filtered_article_ids(self, countries: Sequence[str] = (), sources: Sequence[str] = (),
                             since: str | None = None, until: str | None = None, *,
                             systems: Sequence[str] = (), organisations: Sequence[str] = (),
                             people: Sequence[str] = (), kinds: Sequence[str] = ()) -> set[str]: ...
    def facts(self, article_id: str) -> DefenceFacts | None: ...
    def transfers(self, article_ids: Sequence[str]) -> dict[str, list[tuple[str, str, str | None]]]: ...
    def entity_counts(self, article_ids: Sequence[str]) -> dict[str, dict[str, int]]: ...
    def duplicate_groups(self, article_ids: Sequence[str]) -> dict[str, str]: ...
    def group_members(self, groups: Sequence[str]) -> dict[str, list[str]]: ...
    def count_articles(self) -> int: ...
    def count_passages(self) -> int: ...
    def hold(self) -> None:
        """Read now and keep in memory the rows that its searches would otherwise read a few at a
        time (a reader that keeps nothing between searches does nothing); see `Engine.warm`."""
        ...


class StoreView(Protocol):
    """The stores one search reads, all from one committed state."""

    @property
    def manifest(self) -> Manifest: ...
    @property
    def keyword(self) -> KeywordStore: ...
    @property
    def vectors(self) -> VectorStore: ...
    @property
    def docs(self) -> ArticleReader: ...
    @property
    def one_connection(self) -> bool:
        """True when every store reads through one connection that runs one statement at a time
        (PostgreSQL's snapshot): the engine must then run its legs one after the other."""
        ...


@dataclass(frozen=True)
class ServerHealth:
    """One database server of a store as `Generation.servers()` sees it: `role` is "primary" or
    "replica", `up` whether it answered just now, `lag_seconds` how far a replica's replay is
    behind (None: unknown, or the primary), `error` the first line of why it did not answer."""

    url: str  # without its password
    role: str
    up: bool
    lag_seconds: float | None = None
    error: str | None = None


class Generation(Protocol):
    """One open generation of a store, shared by the searches of an Engine (thread-safe).

    Searches `acquire` it before `reading()` and `release` it after; `retire` says no new search
    will use it, and it closes when the last one ends. `newer(model)` is the generation an
    update published since (None when there is none), cheap enough to ask before every request.
    """

    @property
    def manifest(self) -> Manifest: ...

    def acquire(self) -> None: ...
    def release(self) -> None: ...
    def retire(self) -> None: ...
    def reading(self) -> AbstractContextManager[StoreView]: ...
    def newer(self, model: str) -> Generation | None: ...
    def servers(self) -> list[ServerHealth]:
        """The database servers behind this generation, each asked now (a folder: none)."""
        ...

    def counters(self) -> dict[str, int]:
        """How often its reads took the store's recovery paths since it opened: for a database,
        `interrupted` (a read lost its connection and ran again), `pool_timeouts`, `probes` (of a
        server found down) and `pools_opened`; a folder has none."""
        ...


class WatchlistStore(ABC):
    """Where a store keeps its saved searches (the tables `searches`, `members`, `entries`; the
    logic is search/views/watchlist.py). Holds only a location: share it freely."""

    where: str  # the store as messages show it

    @abstractmethod
    def exists(self) -> bool:
        """True when searches are (or were) saved here."""

    @abstractmethod
    def transaction(self, write: bool) -> AbstractContextManager[Any]:
        """One transaction: an object with `execute(sql, params)` and `executemany(sql, rows)`
        taking SQLite's `?` placeholders, committed on success. A writer waits its turn."""


class Store(ABC):
    """Where an index lives. See the module doc for what may be shared."""

    # Whether searches may name read replicas of this store (`open_store(..., replicas=)`), and
    # the ones named (searched first; the store itself answers when none does).
    supports_replicas: bool = False
    replicas: tuple[str, ...] = ()

    @property
    @abstractmethod
    def location(self) -> str:
        """The store as messages show it: the folder, or the URL without its password."""

    @property
    @abstractmethod
    def default_cache_path(self) -> Path:
        """The embedding cache builds use unless told another."""

    @abstractmethod
    def raw_manifest(self) -> dict[str, Any]:
        """The stored manifest's JSON, or {} (no index yet, unreadable); a database server that
        cannot be reached raises StoreUnavailable."""

    @abstractmethod
    def exists(self) -> bool:
        """True when the store holds an index (a folder: a manifest, readable or not)."""

    @abstractmethod
    def known_sources(self) -> list[str]:
        """The sources the stored manifest lists (read leniently)."""

    @abstractmethod
    def recovered_sources(self) -> list[str]:
        """The sources of the newest manifest that can still be read (after damage, the last good one's)."""

    @abstractmethod
    def transaction(self, *, lock_timeout: float = 0.0, fresh: bool = False) -> Any:
        """The write transaction that publishes the next generation (a context manager; see
        index/storage/transaction.py for the protocol both kinds follow). `fresh` starts from
        nothing instead of the live generation. Raises IndexLocked when another writer holds
        the store past `lock_timeout` seconds."""

    @abstractmethod
    def watchlist(self) -> WatchlistStore:
        """Where this store keeps its saved searches."""

    @abstractmethod
    def open_generation(self, k1: float, b: float, model: str | None, idf: str = "lucene") -> Generation:
        """The live generation, open for searching with BM25 `k1`, `b` and `idf` (one of
        index.storage.keyword.IDFS). Raises IndexNotFound, IndexIncompatible (built with another
        model than `model`), StoreUnavailable, InvalidArgument for an idf the store cannot use."""

