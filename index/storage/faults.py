"""Telling storage faults apart: a damaged file, a full disk, another I/O error.

The stores' libraries report damage in their own ways: SQLite as `sqlite3.DatabaseError`,
whoosh as `EOFError`, `KeyError`, `struct.error`, `zlib.error` or an unpickling error from deep
inside its readers, faiss as a `RuntimeError`. A full disk comes as `OSError(ENOSPC)`, SQLite's
"database or disk is full" or faiss's "No space left". These functions turn them into Accord's
one-line errors, naming the file and the way out.
"""

from __future__ import annotations

import errno
import pickle
import sqlite3
import struct
import traceback
import zlib
from pathlib import Path

from index.errors import IndexCorrupted

REBUILD_HINT = "run 'accord index --rebuild' to rebuild the index from its sources"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def is_disk_full(err: BaseException) -> bool:
    """True for the ways the stores report a full disk or an exhausted quota."""
    if isinstance(err, OSError) and err.errno in _FULL_ERRNOS:
        return True
    text = str(err).lower()
    if isinstance(err, sqlite3.OperationalError) and "disk is full" in text:
        return True
    return isinstance(err, RuntimeError) and "no space left" in text


def _raised_in_whoosh(err: BaseException) -> bool:
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "whoosh" in frames[-1].filename


def is_corruption(err: BaseException) -> bool:
    """True for the errors the stores raise on damaged or truncated files (not a full disk)."""
    if is_disk_full(err):
        return False
    if isinstance(err, sqlite3.DatabaseError) and not isinstance(err, sqlite3.OperationalError):
        return True  # "file is not a database", "database disk image is malformed"
    if isinstance(err, sqlite3.OperationalError):
        return "malformed" in str(err).lower()
    if isinstance(err, (EOFError, struct.error, zlib.error, pickle.UnpicklingError)):
        return True
    if isinstance(err, (KeyError, IndexError, ValueError, TypeError, AttributeError, UnicodeDecodeError)):
        return _raised_in_whoosh(err)  # elsewhere these are bugs, not damage
    try:
        from whoosh.index import EmptyIndexError
        from whoosh.index import IndexError as WhooshIndexError
    except ImportError:  # pragma: no cover - whoosh is a dependency
        return False
    if isinstance(err, (WhooshIndexError, EmptyIndexError)):
        return True
    # faiss: "Error in ... at faiss/impl/index_read.cpp: ..."
    text = str(err).lower()
    return isinstance(err, RuntimeError) and ("faiss" in text or "error in" in text)


def corrupted(path: Path, err: BaseException) -> IndexCorrupted:
    """The one-line error for a damaged store file."""
    detail = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return IndexCorrupted(f"{path} is damaged ({type(err).__name__}: {detail[:160]}); {REBUILD_HINT}")
