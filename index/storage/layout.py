"""The names inside an index directory: a module of constants, cheap to import for readers.

    INDEX_DIR/
      manifest.json          which generation is live (index.storage.manifest)
      .lock                  the writers' lock (filelock): one writer at a time
      locks/gen-NNNNNN.lock  the readers' leases on a generation (fasteners, shared/exclusive)
      gen-NNNNNN/            one complete generation:
        segments.json          its article and vector segments, oldest first, with their counts
        articles.sqlite        the article store's base segment (SQLite)
        articles-NNNNNN.sqlite   a newer segment, written by generation NNNNNN (with its tombstones)
        vectors.faiss          the vectors' base segment (faiss), vectors.hnsw beside it at scale
        vectors-NNNNNN.faiss     a newer segment, vectors-NNNNNN.removed.npy its tombstones
        keyword/               keyword index (whoosh, with segments of its own)
      cache/embeddings.sqlite  vectors by passage hash, shared by all generations

Segment files are written once and never changed, so a new generation hard-links the ones it
keeps (index/storage/segments.py). A generation without `segments.json` (written before
segments) is one base segment of each store.

`index.storage.directory.IndexDirectory` is the one object that creates, publishes and removes
these; everything else reads the names from here.
"""

from __future__ import annotations

from pathlib import PurePath

DOCSTORE_FILE = "articles.sqlite"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"
SEGMENTS_FILE = "segments.json"

GENERATION_PREFIX = "gen-"
WRITE_LOCK_FILE = ".lock"
LEASES_DIR = "locks"
LEASE_SUFFIX = ".lock"
CACHE_FILE = PurePath("cache") / "embeddings.sqlite"


def docstore_file(segment: str) -> str:
    """The article store file of `segment` ("" for the base)."""
    return DOCSTORE_FILE if not segment else f"articles-{segment}.sqlite"


def vectors_file(segment: str) -> str:
    """The exact vector file of `segment` ("" for the base); its HNSW graph, when it has one, is
    the same name with `.hnsw` (index.storage.vectors.hnsw_path)."""
    return VECTORS_FILE if not segment else f"vectors-{segment}.faiss"


def removed_file(segment: str) -> str:
    """The passage ids `segment` removes from older vector segments (a numpy int64 array)."""
    return f"vectors-{segment}.removed.npy"
