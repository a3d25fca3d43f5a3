"""The semantic leg's storage: passage vectors in faiss, behind a small store interface.

Vectors are unit length, so inner product is cosine similarity. Each vector carries its
passage's id (faiss IndexIDMap2), so an update can remove and add passages without renumbering
the rest. Search is exact (IndexFlatIP): at the corpus sizes Accord targets on one machine it
answers in milliseconds.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

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
    if not path.exists():  # faiss reports a missing file as a bare RuntimeError
        raise FileNotFoundError(errno.ENOENT, "no vector index", str(path))
    return faiss.read_index(str(path))


class FaissVectorStore:
    """A vector store over one faiss index file."""

    def __init__(self, path: Path) -> None:
        self._index = _read(path)

    @property
    def dim(self) -> int:
        """Dimensions of the stored vectors."""
        return self._index.d

    def __len__(self) -> int:
        return self._index.ntotal

    def ids(self) -> set[int]:
        """Every stored passage id (for consistency checks)."""
        return set(faiss.vector_to_array(self._index.id_map).tolist())

    def search(self, vector: np.ndarray, limit: int, allowed: Sequence[int] | None = None) -> list[tuple[int, float]]:
        """The `limit` passage ids nearest to `vector` by cosine similarity, among `allowed` ids
        when given (the filter applies inside the search, so `limit` hits come back if they exist)."""
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
        return np.vstack([self._index.reconstruct(int(i)) for i in ids]) if len(ids) else np.zeros((0, self.dim), np.float32)


class VectorWriter:
    """Removes and adds passage vectors, then saves the index to a file."""

    def __init__(self, dim: int, existing: Path | None = None) -> None:
        if existing is not None and existing.exists():
            self._index = _read(existing)
        else:
            self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def remove(self, ids: Sequence[int]) -> None:
        """Remove the vectors of these passage ids."""
        if len(ids):
            self._index.remove_ids(np.asarray(ids, dtype=np.int64))

    def add(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Add vectors under these passage ids."""
        if len(ids):
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def save(self, path: Path) -> None:
        """Write the index file."""
        faiss.write_index(self._index, str(path))
