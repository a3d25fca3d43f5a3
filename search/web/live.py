"""The one `Engine` a server shares, following the index as updates commit new generations.

An update never changes the live generation: it writes a new one and renames a new manifest
into place (see the README's commit protocol). `LiveEngine.use()` notices a new manifest (one
`stat` per request), opens the generation it names and hands that to new requests; requests in
flight finish on the engine they started with, which is closed when the last of them is done.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from index.embedding.encoder import Encoder, encoder_for
from index.errors import IndexIncompatible
from index.storage.manifest import MANIFEST_NAME, read_manifest
from search.engine import Engine


@dataclass
class _Opened:
    engine: Engine
    users: int = 0
    retired: bool = False


class LiveEngine:
    """An index opened for a server: `with live.use() as engine:` gives the newest generation.

    Safe to share between threads. The query encoder is created once and passed to every
    generation's Engine, so a new generation never loads the model again. With `serialize=True`
    one request at a time calls the Engine: today's Engine keeps one whoosh searcher and one
    SQLite connection, which must not be used by two threads at once. Pass False once the
    Engine is thread-safe (it then runs requests side by side).
    """

    def __init__(self, index_dir: Path | str, encoder: Encoder | None = None, *, serialize: bool = True) -> None:
        self.index_dir = Path(index_dir).expanduser()
        self._encoder = encoder
        self._state = threading.Lock()  # guards _current, _seen and the users counts
        self._calls = threading.Lock() if serialize else None
        self._current: _Opened | None = None
        self._seen: tuple[int, int, int] | None = None

    def open(self) -> Engine:
        """Open the index now (raises IndexNotFound or IndexIncompatible), and return its engine."""
        with self._state:
            return self._refresh().engine

    @contextmanager
    def use(self) -> Iterator[Engine]:
        """The engine of the newest committed generation, held open for the `with` block."""
        with self._state:
            opened = self._refresh()
            opened.users += 1
        try:
            with self._calls or nullcontext():
                yield opened.engine
        finally:
            with self._state:
                opened.users -= 1
                if opened.retired and opened.users == 0:
                    opened.engine.close()

    def close(self) -> None:
        """Close the current engine (requests still running keep theirs until they finish)."""
        with self._state:
            if self._current is not None:
                self._retire(self._current)
                self._current = None
                self._seen = None

    def _refresh(self) -> _Opened:
        """The open generation, first opening the one the manifest names if that is newer. Holds _state."""
        try:
            stat = os.stat(self.index_dir / MANIFEST_NAME)
            # A commit renames a new file into place: a new inode even within one mtime tick.
            seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            seen = None
        if self._current is not None and seen == self._seen:
            return self._current
        manifest = read_manifest(self.index_dir)  # raises IndexNotFound when there is none
        if self._current is not None and manifest.generation == self._current.engine.manifest.generation:
            self._seen = seen
            return self._current
        if self._encoder is None or self._encoder.name != manifest.model:
            # Created once and shared by every generation; it loads the model on the first
            # semantic query, not here. A model this installation lacks is left to the Engine:
            # keyword searches work and semantic ones fail with its one-line error, as in the CLI.
            try:
                self._encoder = encoder_for(manifest.model)
            except IndexIncompatible:
                self._encoder = None
        engine = Engine.open(self.index_dir, encoder=self._encoder)
        if self._current is not None:
            self._retire(self._current)
        self._current = _Opened(engine)
        self._seen = seen
        return self._current

    @staticmethod
    def _retire(opened: _Opened) -> None:
        opened.retired = True
        if opened.users == 0:
            opened.engine.close()
