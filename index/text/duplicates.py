"""Near-duplicate detection: the same story syndicated by several outlets, found at index time.

Each article gets a MinHash signature (datasketch) of its word 3-shingles. Locality-sensitive
hashing cuts the 64 values into 16 bands of 4: articles sharing a band's values are candidates,
and a candidate pair is kept when its estimated Jaccard similarity (the share of equal values)
is at least `THRESHOLD`. With 16 bands of 4, a pair at 0.8 becomes a candidate with probability
0.9998. Groups are the connected components of kept pairs, named by their smallest article id,
so grouping does not depend on the order articles were indexed in. The bands are stored in the
index, so an update regroups only what it touches: an added article joins its neighbours'
groups, and a group that lost or changed an article is found again (index/pipeline/builder.py).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterable

import numpy as np

NUM_PERM = 64
BANDS, ROWS = 16, 4
_SCHEME = "affine32"  # datasketch's hashing scheme; signatures are only comparable within one
THRESHOLD = 0.8
_SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")
# Only the first this many words are shingled: a news article has a few thousand, and two texts
# that agree on their first 100,000 are duplicates. Shingling a 50 MB text whole took 40 s and
# 4 GB of memory (a list of eight million words and a set of their shingles).
MAX_WORDS = 100_000


def signature(text: str) -> np.ndarray:
    """The MinHash signature of the word 3-shingles of `text`'s first MAX_WORDS words (case and
    punctuation ignored)."""
    from datasketch import MinHash

    words = [m.group() for m in itertools.islice(_WORD.finditer(text.lower()), MAX_WORDS)]
    count = max(len(words) - _SHINGLE_WORDS + 1, 1)
    shingles = {" ".join(words[i : i + _SHINGLE_WORDS]).encode() for i in range(count)}
    minhash = MinHash(num_perm=NUM_PERM, scheme=_SCHEME)
    minhash.update_batch(list(shingles))
    return minhash.hashvalues.astype(np.uint64)


def signature_from_bytes(blob: bytes) -> np.ndarray:
    """A signature as stored by `signature(...).tobytes()`."""
    return np.frombuffer(blob, dtype=np.uint64)


def band_keys(sig: np.ndarray) -> list[tuple[int, int]]:
    """(band, bucket) pairs of a signature: articles sharing one are candidate duplicates."""
    keys = []
    for band in range(BANDS):
        digest = hashlib.blake2b(sig[band * ROWS : (band + 1) * ROWS].tobytes(), digest_size=8).digest()
        keys.append((band, int.from_bytes(digest, "big", signed=True)))
    return keys


def similar_enough(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the estimated Jaccard similarity of two signatures reaches THRESHOLD."""
    return float(np.mean(a == b)) >= THRESHOLD


def component(seed: str, neighbours: Callable[[str], Iterable[str]]) -> set[str]:
    """Every article connected to `seed` through near-duplicate pairs, `seed` included."""
    found, todo = {seed}, [seed]
    while todo:
        for other in neighbours(todo.pop()):
            if other not in found:
                found.add(other)
                todo.append(other)
    return found
