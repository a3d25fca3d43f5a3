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
    generation (one thread at a time reads it in, and again if a newer one was published
    meanwhile; requests meanwhile read what they need).

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
        self._warming: threading.Thread | None = None  # the thread reading generations in, the last one started
        self._warm_lock = threading.Lock()
        self._warm_wanted = False  # a generation was found that no warm has started on yet
        self._warm_running = False

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
            self._warm_later(engine)
        yield engine

    def _warm_later(self, engine: Engine) -> None:
        """Have the engine's current generation read in by the warming thread, started now
        unless it runs already (then it warms again once it ends): generations published faster
        than they are read in never pile threads up."""
        with self._warm_lock:
            self._warm_wanted = True
            if self._warm_running:
                return
            self._warm_running = True
            warming = threading.Thread(target=self._warm_while_wanted, args=(engine,), name="accord-warm", daemon=True)
            self._warming = warming
        warming.start()

    def _warm_while_wanted(self, engine: Engine) -> None:
        while True:
            with self._warm_lock:
                if not self._warm_wanted:
                    self._warm_running = False
                    return
                self._warm_wanted = False
            _warm(engine)

    def settled(self, timeout: float | None = None) -> bool:
        """Wait until the generations requests found are read in (`Engine.warm`); False if they
        still are after `timeout` seconds."""
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
    except Exception as err:  # the requests still search, reading what they need; say why
        log.warning("accord: warning: could not read the new generation in ahead of its searches: %s", err)
