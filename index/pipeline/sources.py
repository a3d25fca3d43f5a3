"""Which sources and files a build reads: sources added and forgotten, standard input kept as a
file, the readers a set of files needs, and whether a file changed since it was recorded."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from index.errors import InvalidArgument
from index.extras import require
from index.storage.docstore import FileRecord
from index.text.articles import input_kind

# The path that means "JSON lines on standard input".
STDIN_PATH = "-"


def require_readers(files: Iterable[Path]) -> None:
    """Raise MissingExtra (one line naming the extra) when `files` hold HTML pages and the
    `html` extra is not installed, before anything is read or written."""
    if any((input_kind(f) or ("",))[0] == "html" for f in files):
        require("html")


def save_stdin(stream: BinaryIO, cache_path: Path) -> Path:
    """Keep the JSON lines on `stream` as a file named by its content hash in the stdin folder
    beside the embedding cache, and return the folder (a source, so later updates keep them).

    The same input piped twice is one file, so nothing is indexed twice."""
    data = stream.read()
    if not data.strip():
        raise InvalidArgument("standard input is empty; pipe JSON lines (one article per line) into 'accord index -'")
    folder = cache_path.parent / f"{cache_path.stem}-stdin"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"stdin-{hashlib.sha256(data).hexdigest()[:12]}.jsonl"
    if not target.exists():
        partial = target.with_name(f".{target.name}.partial")  # hidden: never read half-written
        partial.write_bytes(data)
        os.replace(partial, target)
    return folder


def merge_sources(known: list[str], paths: Sequence[str]) -> list[str]:
    """The known sources followed by the new `paths` not among them, in order."""
    merged = list(known)
    for path in paths:
        if path not in merged:
            merged.append(path)
    return merged


def forget_sources(sources: list[str], forget: Sequence[Path | str]) -> tuple[list[str], list[str]]:
    """`sources` without those named in `forget`; an unknown name is an error listing the known."""
    forgotten = []
    for path in forget:
        resolved = str(Path(path).expanduser().resolve()) if Path(path).exists() else str(Path(path).expanduser().absolute())
        match = next((s for s in sources if s in (resolved, str(path))), None)
        if match is None:
            raise InvalidArgument(
                f"{path} is not a source of this index; its sources are: {', '.join(sources) or 'none'}"
            )
        sources = [s for s in sources if s != match]
        forgotten.append(match)
    return sources, forgotten


def under(path: str, roots: Sequence[str]) -> bool:
    """True when `path` is one of `roots` or lies inside one."""
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def stat_changed(path: Path, known: FileRecord | None) -> bool:
    """True when `path` is new, or its size or modification time differ from the record."""
    if known is None:
        return True
    stat = path.stat()
    return (stat.st_size, stat.st_mtime_ns) != (known.size, known.mtime_ns)
