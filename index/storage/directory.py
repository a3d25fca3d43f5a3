"""The index directory: its layout, its generations, the readers' leases and the writers' lock.

An index directory holds complete generations (`gen-NNNNNN/`) and a manifest naming the live
one (see `index.storage.layout` for the names). Readers take a *lease* on the live generation;
a writer builds the next generation in a new folder, publishes it by replacing the manifest
atomically, and removes old generations that no reader holds.

Sharing. An `IndexDirectory` holds nothing but its path: share it freely between threads and
processes. A `GenerationLease` may be released from any thread, once or more (later calls do
nothing). Leases are inter-process shared locks (fasteners, i.e. POSIX `fcntl.lockf`) on
`locks/gen-NNNNNN.lock`. POSIX record locks belong to a process, not to a file handle: two
handles in one process never conflict and closing either drops both. So each process keeps one
shared lock per leased generation, counted in a process-wide table, and a writer in the same
process consults that table before it tries the exclusive lock. Do not fork while holding
leases (a child inherits no POSIX locks).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import fasteners

from index.errors import IndexIncompatible
from index.storage.layout import (
    CACHE_FILE,
    DOCSTORE_FILE,
    GENERATION_PREFIX,
    KEYWORD_DIR,
    LEASE_SUFFIX,
    LEASES_DIR,
    VECTORS_FILE,
    WRITE_LOCK_FILE,
)
from index.storage.manifest import MANIFEST_NAME, Manifest, fsync_dir, read_manifest

_TRASH_PREFIX = ".trash-"
# A reader that finds its generation removed between reading the manifest and locking it reads
# the manifest again; it would need this many writers to publish in that instant to give up.
_LEASE_ATTEMPTS = 10


class _ProcessLeases:
    """This process's shared locks on generations, counted, so that POSIX locks behave per lease."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held: dict[str, tuple[fasteners.InterProcessReaderWriterLock, int]] = {}

    def acquire(self, lock_file: Path) -> None:
        key = str(lock_file)
        with self._mutex:
            lock, count = self._held.get(key, (None, 0))
            if lock is None:
                lock = fasteners.InterProcessReaderWriterLock(lock_file)
                # Waits only while a writer removes this generation (a rename: milliseconds).
                lock.acquire_read_lock()
            self._held[key] = (lock, count + 1)

    def release(self, lock_file: Path) -> None:
        key = str(lock_file)
        with self._mutex:
            lock, count = self._held[key]
            if count > 1:
                self._held[key] = (lock, count - 1)
                return
            del self._held[key]
            lock.release_read_lock()  # also closes the handle

    def remove_if_unleased(self, lock_file: Path, target: Path, trash: Path) -> bool:
        """Rename `target` to `trash` if no process holds a lease on `lock_file`; True if done."""
        with self._mutex:  # no thread of this process can lease it meanwhile
            if str(lock_file) in self._held:
                return False
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            lock = fasteners.InterProcessReaderWriterLock(lock_file)
            if not lock.acquire_write_lock(blocking=False):
                return False
            try:
                if target.exists():
                    os.replace(target, trash)
                # Unlinked while held: a reader blocked on this file finds the folder gone and retries.
                lock_file.unlink(missing_ok=True)
            finally:
                lock.release_write_lock()
            return True


_LEASES = _ProcessLeases()


class GenerationLease:
    """A reader's hold on one generation: it is not removed until the lease is released.

    `manifest` is the manifest that named the generation, `path` its folder. Use it as a context
    manager or call `release()` (idempotent, from any thread).
    """

    def __init__(self, manifest: Manifest, path: Path, lock_file: Path | None) -> None:
        self.manifest = manifest
        self.path = path
        self._lock_file = lock_file
        self._released = False
        self._mutex = threading.Lock()

    @property
    def generation(self) -> str:
        """The generation's name, e.g. `gen-000003`."""
        return self.manifest.generation

    @property
    def docstore_path(self) -> Path:
        """The generation's article store."""
        return self.path / DOCSTORE_FILE

    @property
    def keyword_path(self) -> Path:
        """The generation's whoosh folder."""
        return self.path / KEYWORD_DIR

    @property
    def vectors_path(self) -> Path:
        """The generation's exact faiss index."""
        return self.path / VECTORS_FILE

    @property
    def released(self) -> bool:
        """True once `release()` was called."""
        return self._released

    def release(self) -> None:
        """Let writers remove the generation (once no other lease holds it)."""
        with self._mutex:
            if self._released:
                return
            self._released = True
        if self._lock_file is not None:  # None: a read-only index, where nothing is locked
            _LEASES.release(self._lock_file)

    def __enter__(self) -> GenerationLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __repr__(self) -> str:
        state = "released" if self._released else "held"
        return f"GenerationLease({str(self.path)!r}, {state})"


class IndexDirectory:
    """One index directory: names its files, reads its manifest, leases and prunes generations.
    (`index.storage.folder.FolderStore` is the folder kind of `Store` built on it.)"""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"IndexDirectory({str(self.path)!r})"

    @property
    def location(self) -> str:
        """The folder."""
        return str(self.path)


    # -- names -------------------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        """`manifest.json`."""
        return self.path / MANIFEST_NAME

    @property
    def write_lock_path(self) -> Path:
        """The writers' lock file (filelock)."""
        return self.path / WRITE_LOCK_FILE

    @property
    def default_cache_path(self) -> Path:
        """Where the embedding cache lives unless a build names another."""
        return self.path / CACHE_FILE

    def generation_path(self, name: str) -> Path:
        """The folder of generation `name`."""
        return self.path / name

    def lease_lock_path(self, name: str) -> Path:
        """The lock file that readers of generation `name` hold shared."""
        return self.path / LEASES_DIR / f"{name}{LEASE_SUFFIX}"

    # -- manifest ----------------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the directory has a manifest (readable or not)."""
        return self.manifest_path.exists()

    def read_manifest(self) -> Manifest:
        """The checked manifest; raises IndexNotFound or IndexIncompatible."""
        return read_manifest(self.path)

    def raw_manifest(self) -> dict:
        """The manifest's JSON read leniently, or {} when it is missing or unreadable."""
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def known_sources(self) -> list[str]:
        """The sources the manifest lists, read leniently so a rebuild can use a damaged one."""
        sources = self.raw_manifest().get("sources")
        return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []

    def live_generation(self) -> str | None:
        """The generation the manifest names, read leniently (None if it cannot be read)."""
        name = self.raw_manifest().get("generation")
        return name if isinstance(name, str) and name.startswith(GENERATION_PREFIX) else None

    # -- generations -------------------------------------------------------------------------
    def generation_dirs(self) -> list[Path]:
        """The generation folders, live or not, in name (= age) order."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob(f"{GENERATION_PREFIX}*") if p.is_dir())

    def next_generation_name(self) -> str:
        """A name after every generation folder present."""
        numbers = [
            int(p.name.removeprefix(GENERATION_PREFIX))
            for p in self.generation_dirs()
            if p.name.removeprefix(GENERATION_PREFIX).isdigit()
        ]
        return f"{GENERATION_PREFIX}{max(numbers, default=0) + 1:06d}"

    def remove_abandoned(self, live: str | None) -> list[str]:
        """Remove generations newer than `live` (all unleased ones, if None): leftovers of killed writers.

        Call under the write lock: no reader can lease a generation that was never published.
        """
        if live is None:  # no readable manifest: nothing is live, but readers may hold leases
            return self.prune(keep=set())
        removed = []
        for path in self.generation_dirs():
            if path.name > live:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
        self._empty_trash()
        return removed

    def prune(self, keep: set[str]) -> list[str]:
        """Remove generations not in `keep` that no reader leases; returns the removed names.

        A leased generation is left for a later prune. Safe to call from any process; a writer
        calls it under the write lock after publishing.
        """
        removed = []
        for path in self.generation_dirs():
            if path.name in keep:
                continue
            trash = self.path / f"{_TRASH_PREFIX}{path.name}"
            if _LEASES.remove_if_unleased(self.lease_lock_path(path.name), path, trash):
                removed.append(path.name)
        self._sweep_lease_files(keep)
        self._empty_trash()
        return removed

    def lease(self) -> GenerationLease:
        """Lease the live generation: it stays on disk until the lease is released.

        Raises IndexNotFound / IndexIncompatible as `read_manifest` does, and IndexIncompatible
        when the manifest names a generation that is not there.
        """
        for _attempt in range(_LEASE_ATTEMPTS):
            manifest = self.read_manifest()
            path = self.generation_path(manifest.generation)
            lock_file = self.lease_lock_path(manifest.generation)
            try:
                lock_file.parent.mkdir(parents=True, exist_ok=True)
                _LEASES.acquire(lock_file)
            except (OSError, threading.ThreadError):
                # A read-only index (a shared mount, a CD): no writer can prune it either.
                if not path.is_dir():
                    break
                return GenerationLease(manifest, path, None)
            if path.is_dir():
                return GenerationLease(manifest, path, lock_file)
            # Removed between reading the manifest and locking: a newer one is live by now.
            _LEASES.release(lock_file)
            if self.live_generation() == manifest.generation:
                break
        raise IndexIncompatible(
            f"{self.path}: the manifest names {manifest.generation}, which is missing; "
            "rebuild the index with 'accord index --rebuild'"
        )

    def recovered_sources(self) -> list[str]:
        """The sources listed by the newest generation's own copy of its manifest: what a
        rebuild uses when `manifest.json` itself cannot be read."""
        for path in reversed(self.generation_dirs()):
            try:
                sources = json.loads((path / MANIFEST_NAME).read_text()).get("sources")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(sources, list):
                return [s for s in sources if isinstance(s, str)]
        return []

    def _sweep_lease_files(self, keep: set[str]) -> None:
        """Remove lock files of generations that are gone (left by readers that lost a race)."""
        folder = self.path / LEASES_DIR
        if not folder.is_dir():
            return
        for lock_file in folder.glob(f"{GENERATION_PREFIX}*{LEASE_SUFFIX}"):
            name = lock_file.name.removesuffix(LEASE_SUFFIX)
            if name not in keep and not self.generation_path(name).exists():
                _LEASES.remove_if_unleased(lock_file, self.generation_path(name), self.path / f"{_TRASH_PREFIX}{name}")

    def _empty_trash(self) -> None:
        for path in self.path.glob(f"{_TRASH_PREFIX}*"):
            shutil.rmtree(path, ignore_errors=True)


def fsync_tree(directory: Path) -> None:
    """Flush every file and folder entry under `directory` to disk."""
    for root, _dirs, names in os.walk(directory):
        for name in names:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        fsync_dir(Path(root))
