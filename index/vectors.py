"""The semantic leg's storage: passage vectors in faiss, behind a small store interface.

Vectors are unit length, so inner product is cosine similarity. Each vector carries its
passage's id (faiss IndexIDMap2), so an update can remove and add passages without renumbering
the rest. Search is exact (IndexFlatIP): at the corpus sizes Accord targets on one machine it
answers in milliseconds.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from index.errors import IndexIncompatible

# faiss and numpy cost a tenth of a second to import; a keyword search never needs them.
if TYPE_CHECKING:
    import faiss
    import numpy as np


class VectorStore(Protocol):
    """What the ranker needs from a vector index; a server-backed store can stand in."""

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """Passage ids with their cosine similarity to `vector`, most similar first, among `allowed`."""
        ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids."""
        ...

    def __len__(self) -> int: ...


def _read(path: Path) -> faiss.IndexIDMap2:
    import faiss

    if not path.exists():  # faiss reports a missing file as a bare RuntimeError
        raise FileNotFoundError(errno.ENOENT, "no vector index", str(path))
    return faiss.read_index(str(path))


class FaissVectorStore:
    """A vector store over one faiss index file."""

    def __init__(self, path: Path) -> None:
        self._index = _read(path)

    @classmethod
    def from_index(cls, index: faiss.Index) -> FaissVectorStore:
        """A store over an index already in memory."""
        store = cls.__new__(cls)
        store._index = index
        return store

    @property
    def dim(self) -> int:
        """Dimensions of the stored vectors."""
        return self._index.d

    def __len__(self) -> int:
        return self._index.ntotal

    def ids(self) -> set[int]:
        """Every stored passage id (for consistency checks)."""
        import faiss

        return set(faiss.vector_to_array(self._index.id_map).tolist())

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The `limit` passage ids nearest to `vector` by cosine similarity, among `allowed` ids
        when given (the filter applies inside the search, so `limit` hits come back if they exist)."""
        import faiss
        import numpy as np

        limit = min(limit, self._index.ntotal if allowed is None else len(allowed))
        if limit <= 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        scores, ids = self._index.search(query, limit, params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored vectors of these passage ids."""
        import numpy as np

        if not len(ids):
            return np.zeros((0, self.dim), np.float32)
        return np.vstack([self._index.reconstruct(int(i)) for i in ids])


class LazyVectorStore:
    """A FaissVectorStore read on first use, so a keyword-only search never loads faiss.

    The file is opened at once: a missing file fails now, as an eager open would, and the open
    handle keeps this generation's vectors readable even if a later update removes the folder.
    """

    def __init__(self, path: Path, dim: int) -> None:
        self._path = path
        self._file = open(path, "rb")
        self._dim = dim

    @cached_property
    def _store(self) -> FaissVectorStore:
        import faiss
        import numpy as np

        with self._file:
            data = np.frombuffer(self._file.read(), dtype=np.uint8)
        store = FaissVectorStore.from_index(faiss.deserialize_index(data))
        if store.dim != self._dim:
            raise IndexIncompatible(f"{self._path}: vectors have {store.dim} dimensions, the manifest says {self._dim}")
        return store

    @property
    def dim(self) -> int:
        return self._store.dim

    def __len__(self) -> int:
        return len(self._store)

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        return self._store.search(vector, limit, allowed)

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        return self._store.vectors(ids)

    def close(self) -> None:
        """Release the file if the vectors were never needed."""
        self._file.close()


class VectorWriter:
    """Removes and adds passage vectors, then saves the index to a file."""

    def __init__(self, dim: int, existing: Path | None = None) -> None:
        import faiss

        if existing is not None and existing.exists():
            self._index = _read(existing)
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def remove(self, ids: Sequence[int]) -> None:
        """Remove the vectors of these passage ids."""
        import numpy as np

        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under these passage ids."""
        import numpy as np

        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        """Write the index file."""
        import faiss

        faiss.write_index(self._index, str(path))
