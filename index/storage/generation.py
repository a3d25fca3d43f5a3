"""An index folder's open generation: what an Engine searches when the index is a folder.

A `LocalGeneration` is held by a lease (index/storage/directory.py), so writers keep its files
until the last search on it ends; its stores are shared by all threads (each store keeps
per-thread searchers and connections). `SearchUsers` counts the searches on a generation of
either kind and closes it after the last once it is retired.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from index.errors import IndexIncompatible
from index.storage.base import ServerHealth
from index.storage.directory import GenerationLease, IndexDirectory
from index.storage.docstore import open_docstore
from index.storage.keyword import KeywordStore, WhooshKeywordStore
from index.storage.manifest import MANIFEST_NAME
from index.storage.segments import read_segments
from index.storage.vectors import VectorStore, open_vectors


class SearchUsers:
    """Counts the searches using a generation; closes it after the last once retired."""

    def __init__(self) -> None:
        self._users = 0
        self._retired = False
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._retired and self._users == 0
        if last:
            self._close()

    def retire(self) -> None:
        """No new searches will use this generation; close it when the last one finishes."""
        with self._lock:
            self._retired = True
            idle = self._users == 0
        if idle:
            self._close()

    def _close(self) -> None:
        raise NotImplementedError



class LocalGeneration(SearchUsers):
    """One generation of an index folder: its lease, its manifest and its three stores (the
    article and vector stores over the segments its `segments.json` lists)."""

    # Each store keeps per-thread searchers and connections: the legs may run at once.
    one_connection = False

    def __init__(
        self, index_dir: Path, lease: GenerationLease, k1: float, b: float, stat: tuple[int, int, int] | None, idf: str = "lucene"
    ) -> None:
        super().__init__()
        self.index_dir = index_dir
        self.lease = lease
        self.manifest = lease.manifest
        self.manifest_stat = stat
        self._k1, self._b, self._idf = k1, b, idf
        try:
            segments = read_segments(lease.path)  # None: a generation written before segments
            # Read (and its dimension checked) on the first semantic query: keyword searches never load faiss.
            self.vectors: VectorStore = open_vectors(lease.path, self.manifest.dim, None if segments is None else segments.vectors)
            try:
                self.keyword: KeywordStore = WhooshKeywordStore(lease.keyword_path, k1, b, idf)
                self.docs = open_docstore(lease.path, None if segments is None else segments.docs)
            except BaseException:
                self.vectors.close()
                raise
        except BaseException:
            lease.release()
            raise

    @classmethod
    def open(cls, index_dir: Path, k1: float, b: float, model: str | None, idf: str = "lucene") -> LocalGeneration:
        """Lease and open the live generation, its keyword store scoring with BM25 `k1`, `b` and
        `idf` (index.storage.keyword.IDFS); IndexIncompatible when built with another model."""
        stat = _manifest_stat(index_dir)
        lease = IndexDirectory(index_dir).lease()
        if model is not None and model != lease.manifest.model:
            lease.release()
            raise IndexIncompatible(
                f"{index_dir} was built with {lease.manifest.model}, not {model}; rebuild it with 'accord index --rebuild'"
            )
        return cls(index_dir, lease, k1, b, stat, idf)

    @contextmanager
    def reading(self) -> Iterator[LocalGeneration]:
        """The stores, shared by every search (they are thread-safe)."""
        yield self

    def newer(self, model: str) -> LocalGeneration | None:
        """The generation an update published since this one was opened, or None. Cheap when
        nothing changed: one stat of manifest.json."""
        if _manifest_stat(self.index_dir) == self.manifest_stat:
            return None
        fresh = LocalGeneration.open(self.index_dir, self._k1, self._b, model, self._idf)
        if fresh.manifest.generation == self.manifest.generation:
            fresh.retire()
            self.manifest_stat = fresh.manifest_stat
            return None
        return fresh

    def servers(self) -> list[ServerHealth]:
        """A folder has no servers."""
        return []

    def counters(self) -> dict[str, int]:
        """A folder has no recovery paths to count."""
        return {}

    def _close(self) -> None:
        try:
            self.keyword.close()
            self.docs.close()
            self.vectors.close()
        finally:
            self.lease.release()


def _manifest_stat(index_dir: Path) -> tuple[int, int, int] | None:
    """What changes when an update publishes a manifest (it is replaced by a rename)."""
    try:
        stat = (index_dir / MANIFEST_NAME).stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size
