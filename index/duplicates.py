"""Near-duplicate detection: the same story syndicated by several outlets, found at index time.

Each article gets a MinHash signature (datasketch) of its word 3-shingles; locality-sensitive
hashing proposes candidate pairs, which are kept when their estimated Jaccard similarity is at
least `THRESHOLD`. Groups are the connected components of kept pairs, named by their smallest
article id, so the grouping does not depend on the order articles were indexed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

NUM_PERM = 64
_SCHEME = "affine32"  # datasketch's hashing scheme; stored signatures are only comparable within one
THRESHOLD = 0.8
_SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")


def signature(text: str) -> np.ndarray:
    """The MinHash signature of `text`'s word 3-shingles (case and punctuation ignored)."""
    from datasketch import MinHash

    words = _WORD.findall(text.lower())
    shingles = {" ".join(words[i : i + _SHINGLE_WORDS]).encode() for i in range(max(len(words) - _SHINGLE_WORDS + 1, 1))}
    minhash = MinHash(num_perm=NUM_PERM, scheme=_SCHEME)
    minhash.update_batch(list(shingles))
    return minhash.hashvalues.astype(np.uint64)


def signature_from_bytes(blob: bytes) -> np.ndarray:
    """A signature as stored by `signature(...).tobytes()`."""
    return np.frombuffer(blob, dtype=np.uint64)


def groups(signatures: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Every article id mapped to its duplicate group's id (itself when it has no duplicate)."""
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM)
    hashes = {}
    for article_id, values in signatures.items():
        hashes[article_id] = LeanMinHash(seed=1, hashvalues=values, scheme=_SCHEME)
        lsh.insert(article_id, hashes[article_id])
    parent = {article_id: article_id for article_id in signatures}

    def root(node: str) -> str:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for article_id, minhash in hashes.items():
        for other in lsh.query(minhash):
            if other != article_id and minhash.jaccard(hashes[other]) >= THRESHOLD:
                a, b = root(article_id), root(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {article_id: root(article_id) for article_id in signatures}
