"""Telling storage faults apart: a damaged file, a full disk, another I/O error.

The stores' libraries report damage in their own ways: SQLite as `sqlite3.DatabaseError`,
whoosh as `EOFError`, `KeyError`, `struct.error`, `zlib.error` or an unpickling error from deep
inside its readers, faiss as a `RuntimeError`. A full disk comes as `OSError(ENOSPC)`, SQLite's
"database or disk is full" or faiss's "No space left". These functions turn them into Accord's
one-line errors, naming the file and the way out.
"""

from __future__ import annotations

import errno
import os
import pickle
import sqlite3
import struct
import traceback
import zlib
from pathlib import Path
from typing import BinaryIO

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


# The exact vector file as faiss (>= 1.8) writes an IndexIDMap2 over an IndexFlatIP: a header
# per index (its type's four letters, then dimensions, count, two constants, trained, metric),
# the vectors (a count of floats, then the floats), the ids (a count, then int64s).
_FLAT_TYPES = (b"IxM2", b"IxFI")
_INDEX_HEADER = struct.Struct("<4siqqqBi")
_COUNT = struct.Struct("<Q")
_HEADER_CONSTANT = 1 << 20  # faiss writes it in place of two retired fields
_INNER_PRODUCT = 0


def flat_vectors_problem(path: Path, dim: int) -> str | None:
    """What is wrong with the layout of the exact vector file at `path` for `dim` dimensions
    (a phrase), or None when its headers, sizes and length agree.

    faiss trusts the counts in a file: damaged ones make it allocate without bound or abort the
    whole process, which no `except` can catch, so they are read here before faiss reads the
    file. Raises OSError when the file cannot be read.
    """
    with open(path, "rb") as file:
        return open_flat_vectors_problem(file, dim)


def open_flat_vectors_problem(file: BinaryIO, dim: int | None = None) -> str | None:
    """`flat_vectors_problem` of an open file, read without moving its position (a reader's
    handle, kept so a generation stays readable after an update removes its folder). With
    `dim` None the headers' own dimensions are taken (a mismatch with the manifest is the
    caller's to report)."""
    fd = file.fileno()
    size = os.fstat(fd).st_size
    head_size = 2 * _INDEX_HEADER.size + _COUNT.size
    head = os.pread(fd, head_size, 0)
    if len(head) < head_size:
        return f"it is {size} bytes, shorter than its headers"
    outer = _INDEX_HEADER.unpack_from(head, 0)
    inner = _INDEX_HEADER.unpack_from(head, _INDEX_HEADER.size)
    if (outer[0], inner[0]) != _FLAT_TYPES:
        return f"its headers name index types {outer[0]!r} and {inner[0]!r}, not {_FLAT_TYPES[0]!r} and {_FLAT_TYPES[1]!r}"
    (_, d, count, *fixed), (_, inner_d, inner_count, *inner_fixed) = outer, inner
    if dim is None:
        if d != inner_d or d <= 0:
            return f"its headers give {d} and {inner_d} dimensions"
        dim = d
    if (d, inner_d) != (dim, dim):
        return f"its headers give {d} and {inner_d} dimensions, the manifest {dim}"
    if count != inner_count or count < 0:
        return f"its headers count {count} and {inner_count} vectors"
    if fixed != inner_fixed or fixed != [_HEADER_CONSTANT, _HEADER_CONSTANT, 1, _INNER_PRODUCT]:
        return "its headers hold values faiss never writes there"
    (floats,) = _COUNT.unpack_from(head, 2 * _INDEX_HEADER.size)
    if floats != count * dim:
        return f"it holds {floats} numbers for {count} vectors of {dim}"
    expected = head_size + 4 * floats + _COUNT.size + 8 * count
    if size != expected:
        return f"it is {size} bytes, its headers call for {expected}"
    (ids,) = _COUNT.unpack(os.pread(fd, _COUNT.size, head_size + 4 * floats))
    if ids != count:
        return f"it holds {ids} ids for {count} vectors"
    return None
