"""File names inside an index generation: a module of constants, cheap to import for readers."""

from __future__ import annotations

DOCSTORE_FILE = "articles.sqlite"
KEYWORD_DIR = "keyword"
VECTORS_FILE = "vectors.faiss"
