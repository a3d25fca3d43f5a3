"""The semantic leg's storage: passage vectors in faiss, behind a small store interface.

Vectors are unit length, so inner product is cosine similarity. Exact search (IndexFlatIP) is
used: at the corpus sizes Accord targets on one machine it answers in milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import faiss
import numpy as np


class VectorStore(Protocol):
    """What the ranker needs from a vector index; a server-backed store can stand in."""

    def search(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """Passage rows with their cosine similarity to `vector`, most similar first."""
        ...

    def __len__(self) -> int: ...


def write_vectors(path: Path, vectors: np.ndarray, dim: int) -> None:
    """Write `vectors` (one row per passage, in passage-row order) as a faiss index file."""
    index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(path))


class FaissVectorStore:
    """A vector store over one faiss index file."""

    def __init__(self, path: Path) -> None:
        self._index = faiss.read_index(str(path))

    @property
    def dim(self) -> int:
        """Dimensions of the stored vectors."""
        return self._index.d

    def __len__(self) -> int:
        return self._index.ntotal

    def search(self, vector: np.ndarray, limit: int) -> list[tuple[int, float]]:
        """The `limit` passage rows nearest to `vector` by cosine similarity."""
        limit = min(limit, self._index.ntotal)
        if limit <= 0:
            return []
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        scores, rows = self._index.search(query, limit)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]
