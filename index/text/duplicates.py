"""Near-duplicate detection: the same story syndicated by several outlets, found at index time.

Each article gets a MinHash signature of its word 3-shingles. Locality-sensitive
hashing cuts the 64 values into 16 bands of 4: articles sharing a band's values are candidates,
and a candidate pair is kept when its estimated Jaccard similarity (the share of equal values)
is at least `THRESHOLD`. With 16 bands of 4, a pair at 0.8 becomes a candidate with probability
0.9998. Groups are the connected components of kept pairs, named by their smallest article id,
so grouping does not depend on the order articles were indexed in. The bands are stored in the
index, so an update regroups only what it touches: an added article joins its neighbours'
groups, and a group that lost or changed an article is found again (index/pipeline/builder.py).

The signature is datasketch's MinHash (its "affine32" scheme, datasketch 2.0), computed here with
numpy: importing datasketch imports its LSH classes and with them scipy, 0.4 CPU-s per build
process (250 BBC articles' signatures took 0.50 CPU-s with the import, 0.10 without) for a few
lines of arithmetic. The stored signatures of every existing index were
made by datasketch, and an update compares new ones with them, so these must stay equal to
datasketch's bit for bit (tests/test_duplicates.py checks them against datasketch itself); owning
the arithmetic also keeps them so whatever a later datasketch changes.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Iterable

import numpy as np

NUM_PERM = 64
BANDS, ROWS = 16, 4
_SEED = 1  # datasketch's default seed: the permutations every stored signature was made with
THRESHOLD = 0.8
_SHINGLE_WORDS = 3
_WORD = re.compile(r"\w+")
# Only the first this many words are shingled: a news article has a few thousand, and two texts
# that agree on their first 100,000 are duplicates. Shingling a 50 MB text whole took 40 s and
# 4 GB of memory (a list of eight million words and a set of their shingles).
MAX_WORDS = 100_000


def signature(text: str) -> np.ndarray:
    """The MinHash signature of the word 3-shingles of `text`'s first MAX_WORDS words (case and
    punctuation ignored): datasketch's `MinHash(num_perm=NUM_PERM, scheme="affine32")` after
    `update_batch` with the shingles' UTF-8 bytes, its hash values as uint64."""
    words = [m.group() for m in itertools.islice(_WORD.finditer(text.lower()), MAX_WORDS)]
    count = max(len(words) - _SHINGLE_WORDS + 1, 1)
    shingles = {" ".join(words[i : i + _SHINGLE_WORDS]).encode() for i in range(count)}
    # datasketch's sha1_hash32: the first four bytes of each shingle's SHA-1, little-endian.
    hashes = np.frombuffer(b"".join([hashlib.sha1(s).digest()[:4] for s in shingles]), dtype="<u4")
    a, b = _permutations()
    # uint32 arithmetic wraps, which is the scheme's modulo 2^32.
    return (_fmix32(hashes.astype(np.uint32))[:, None] * a + b).min(axis=0).astype(np.uint64)


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The scheme's NUM_PERM affine permutations h -> a*h + b mod 2^32 (a odd), drawn as
    datasketch draws them from numpy's RandomState, whose stream numpy keeps unchanged."""
    gen = np.random.RandomState(_SEED)
    a = gen.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


def _fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, which the scheme applies to each input hash first."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


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
