"""A persistent cache of passage embeddings keyed by model and content hash.

Embedding is the slow step of indexing (tens of passages per second on a CPU), so a vector is
computed once per (model, exact text) and reused by every later build. The key includes the model
name, so a cache can never serve vectors of another model. SQLite gives atomic, crash-safe writes
and lets a reader and a writer share the file.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

# Texts per `encode` call, and per commit, when the encoder does not ask for another size.
BATCH_SIZE = 64


def passage_key(model_name: str, text: str) -> str:
    """The cache key of `text` embedded by `model_name`."""
    return hashlib.sha256(f"{model_name}\x00{text}".encode()).hexdigest()


class EmbeddingCache:
    """Vectors by passage key, stored in one SQLite file."""

    def __init__(self, path: Path, dim: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._dim = dim
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
        self._db.commit()

    def close(self) -> None:
        """Close the underlying database."""
        self._db.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `keys`; missing keys are absent from the result."""
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), 500):  # SQLite limits the number of bound parameters
            chunk = unique[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk)
            for key, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self._dim,):
                    found[key] = vector
        return found

    def put_many(self, items: Sequence[tuple[str, np.ndarray]]) -> None:
        """Store vectors; each call commits, so finished work survives an interruption."""
        self._db.executemany(
            "INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
            [(key, np.asarray(vec, dtype=np.float32).tobytes()) for key, vec in items],
        )
        self._db.commit()

    def embed(
        self,
        texts: Sequence[str],
        model_name: str,
        encode: Callable[[Sequence[str]], np.ndarray],
        batch_size: int = BATCH_SIZE,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, int]:
        """Vectors for `texts`, computing only those not cached; returns (vectors, newly embedded).

        New vectors are committed batch by batch, so an interrupted run resumes where it stopped.
        `on_batch(done, total)` reports progress over the vectors to compute.
        """
        keys = [passage_key(model_name, t) for t in texts]
        known = self.get_many(keys)
        text_of = dict(zip(keys, texts))
        # Longest first, so each batch holds texts of similar length: a batch is padded to its
        # longest text, and padding is computed like any token. (Longest first also makes the
        # progress bar's time left err on the long side.)
        todo = sorted(dict.fromkeys(k for k in keys if k not in known), key=lambda k: -len(text_of[k]))
        for i in range(0, len(todo), batch_size):
            batch = todo[i : i + batch_size]
            vectors = encode([text_of[k] for k in batch])
            self.put_many(list(zip(batch, vectors)))
            known.update(zip(batch, vectors))
            if on_batch:
                on_batch(min(i + batch_size, len(todo)), len(todo))
        if not keys:
            return np.zeros((0, self._dim), dtype=np.float32), 0
        return np.vstack([known[k] for k in keys]).astype(np.float32), len(todo)
