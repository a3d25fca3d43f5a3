"""The one `Engine` a server shares, kept on the index's newest generation.

An update never changes the live generation: it writes a new one and renames a new manifest
into place (the commit protocol of index/storage/transaction.py). `LiveEngine.use()` calls `Engine.refresh()`
(one `stat` of the manifest when nothing changed), so each request searches the newest
committed generation, while requests already running finish on the one they started with.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from index.embedding.encoder import Encoder
from index.storage.base import Store
from index.storage.factory import open_store
from search.engine import Engine

log = logging.getLogger("accord")


class LiveEngine:
    """An index opened for a server: `with live.use() as engine:` gives its newest generation,
    warmed (`Engine.warm`) when it is opened, and beside the requests when one finds a new
    generation (a thread of its own reads it in; requests meanwhile read what they need).

    Safe to share between threads, like the Engine it holds (each thread searches through its
    own whoosh searcher and SQLite connection). The index is opened on first use, so an app can
    be created before its index exists; `open()` opens it now.
    """

    def __init__(self, index_dir: Path | str | Store, encoder: Encoder | None = None, replicas: Sequence[str] = ()) -> None:
        # A folder, or a postgresql:// URL (a PostgreSQL store, searched on `replicas` first).
        self.index_dir: Store = open_store(index_dir, replicas=replicas)
        self.location = self.index_dir.location
        self._encoder = encoder
        self._engine: Engine | None = None
        self._opening = threading.Lock()
        self._warming: threading.Thread | None = None

    def open(self) -> Engine:
        """The shared engine, opened on first call (raises IndexNotFound or IndexIncompatible)."""
        if self._engine is None:
            with self._opening:
                if self._engine is None:
                    engine = Engine.open(self.index_dir, encoder=self._encoder)
                    engine.warm()  # a server's searches are warm from the first
                    self._engine = engine
        return self._engine

    @contextmanager
    def use(self) -> Iterator[Engine]:
        """The engine, switched to the newest committed generation first, for one request."""
        engine = self.open()
        if engine.refresh():
            # Read in beside the requests, not by the one that found it (~1 s at 10,000 articles).
            warming = threading.Thread(target=_warm, args=(engine,), name="accord-warm", daemon=True)
            self._warming = warming
            warming.start()
        yield engine

    def settled(self, timeout: float | None = None) -> bool:
        """Wait until the last generation a request found is read in (`Engine.warm`); False if
        it still is after `timeout` seconds."""
        warming = self._warming
        if warming is not None:
            warming.join(timeout)
            return not warming.is_alive()
        return True

    def close(self) -> None:
        """Close the engine once the generation being read in is (call it once no request is
        running)."""
        self.settled()
        with self._opening:
            if self._engine is not None:
                self._engine.close()
                self._engine = None


def _warm(engine: Engine) -> None:
    try:
        engine.warm()
    except Exception as err:  # the requests still search, reading what they need; say why once
        log.warning("accord: warning: could not read the new generation in ahead of its searches: %s", err)
