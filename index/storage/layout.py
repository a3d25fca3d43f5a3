"""The names inside an index directory: a module of constants, cheap to import for readers.

    INDEX_DIR/
      manifest.json          which generation is live (index.storage.manifest)
      .lock                  the writers' lock (filelock): one writer at a time
      locks/gen-NNNNNN.lock  the readers' leases on a generation (fasteners, shared/exclusive)
      gen-NNNNNN/            one complete generation:
        articles.sqlite        article store (SQLite)
        keyword/               keyword index (whoosh)
        vectors.faiss          passage vectors (faiss), vectors.hnsw beside it at scale
      cache/embeddings.sqlite  vectors by passage hash, shared by all generations

`index.storage.directory.IndexDirectory` is the one object that creates, publishes and removes
these; everything else reads the names from here.
"""

from __future__ import annotations

from pathlib import PurePath

DOCSTORE_FILE = "articles.sqlite"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"

GENERATION_PREFIX = "gen-"
WRITE_LOCK_FILE = ".lock"
LEASES_DIR = "locks"
LEASE_SUFFIX = ".lock"
CACHE_FILE = PurePath("cache") / "embeddings.sqlite"
