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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import fasteners

from index.errors import AccordError, IndexIncompatible, IndexLocked, IndexWriteError
from index.storage.faults import corrupted, is_corruption, is_disk_full
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
from index.storage.manifest import MANIFEST_NAME, Manifest, fsync_dir, read_manifest, write_manifest

if TYPE_CHECKING:
    from index.storage.docstore import DocStoreWriter
    from index.storage.keyword import KeywordWriter
    from index.storage.vectors import VectorWriter

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
    """One index directory: names its files, reads its manifest, leases and prunes generations."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()

    def __repr__(self) -> str:
        return f"IndexDirectory({str(self.path)!r})"

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

    def _raw_manifest(self) -> dict:
        try:
            data = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def live_generation(self) -> str | None:
        """The generation the manifest names, read leniently (None if it cannot be read)."""
        name = self._raw_manifest().get("generation")
        return name if isinstance(name, str) and name.startswith(GENERATION_PREFIX) else None

    def known_sources(self) -> list[str]:
        """The sources the manifest lists, read leniently so a rebuild can use a damaged one."""
        sources = self._raw_manifest().get("sources")
        return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []

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

    def write(self, lock_timeout: float = 0.0, fresh: bool = False) -> WriteTransaction:
        """A write transaction (a context manager): see `WriteTransaction`.

        `fresh=True` starts from nothing instead of a copy of the live generation (a rebuild);
        the known sources are still read.
        """
        return WriteTransaction(self, lock_timeout, fresh)

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


def _size(path: Path) -> int:
    """Bytes under `path` (0 if it is gone)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


class WriteTransaction:
    """One writer's change to an index directory, as a context manager.

        with IndexDirectory(path).write(lock_timeout=0) as tx:
            tx.previous, tx.sources          # read under the lock
            tx.begin()                       # a new generation: a copy of the live one
            with tx.articles() as docs: ...  # the writers commit on success, cancel on error
            with tx.vectors(dim) as vectors: ...
            with tx.keywords(title_boost) as keywords: ...
            tx.publish(manifest)             # fsync, switch the manifest, prune

    Entering takes the write lock (`INDEX_DIR/.lock`, filelock) first and only then reads the
    manifest and the known sources, so a writer that waited for the lock builds on the latest
    generation, never on one it read before waiting. `begin`/`publish` may repeat: each publish
    makes what was written so far searchable, and the next `begin` copies it. Leaving the block
    with an error removes the unpublished generation (the live one is untouched) and raises a
    one-line AccordError: IndexWriteError for a full disk (with the space the update needed) or
    another I/O error, IndexCorrupted for a damaged store file. Leaving it without an error
    but with an unpublished generation discards that generation.

    One thread uses a transaction; the lock keeps other processes (and other transactions of
    this one) out.
    """

    def __init__(self, directory: IndexDirectory, lock_timeout: float, fresh: bool) -> None:
        self.directory = directory
        self.lock_timeout = lock_timeout
        self.fresh = fresh
        self.previous: Manifest | None = None
        self.sources: list[str] = []
        self.live: str | None = None
        self.published: list[str] = []
        self._lock = None
        self._pending: Path | None = None

    # -- lock ------------------------------------------------------------------------------
    def __enter__(self) -> WriteTransaction:
        from filelock import FileLock, Timeout

        self.directory.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.directory.write_lock_path), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise IndexLocked(
                f"{self.directory.path} is being updated by another process; try again when it has finished"
            ) from None
        self._lock = lock
        try:
            self._read_state()
        except BaseException:
            self._release()
            raise
        return self

    def _read_state(self) -> None:
        directory = self.directory
        self.live = directory.live_generation()
        self.sources = directory.known_sources()
        if self.fresh:
            self.sources = self.sources or directory.recovered_sources()
        elif directory.exists():
            self.previous = directory.read_manifest()  # unreadable: IndexIncompatible, "--rebuild"
        directory.remove_abandoned(self.live)
        if self.live is not None and not directory.generation_path(self.live).is_dir():
            self.live = None  # a damaged directory: nothing to keep (a rebuild) or to copy
            if self.previous is not None:
                raise IndexIncompatible(
                    f"{directory.path}: the manifest names {self.previous.generation}, which is missing; "
                    "run 'accord index --rebuild' to rebuild the index from its sources"
                )

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if self._pending is not None:
                self._fail(exc)
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- generations -----------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The folder of the generation being written (after `begin`)."""
        if self._pending is None:
            raise RuntimeError("begin() a generation first")
        return self._pending

    @property
    def generation(self) -> str:
        """The name of the generation being written."""
        return self.path.name

    @property
    def base(self) -> str | None:
        """The generation the next `begin` copies: the last one this transaction published,
        else the live one (None for a fresh transaction or a new index)."""
        if self.published:
            return self.published[-1]
        return None if self.fresh or self.previous is None else self.live

    def begin(self, copy: bool = True) -> Path:
        """Start the next generation, a copy of `base` unless `copy` is False; returns its folder."""
        if self._pending is not None:
            raise RuntimeError("publish the current generation before beginning another")
        name = self.directory.next_generation_name()
        target = self.directory.generation_path(name)
        target.mkdir()
        self._pending = target
        base = self.base if copy else None
        if base is not None:
            source = self.directory.generation_path(base)
            for child in source.iterdir():
                if child.name == MANIFEST_NAME:
                    continue
                with self._faults_named(target / child.name):
                    if child.is_dir():
                        shutil.copytree(child, target / child.name)
                    else:
                        shutil.copy2(child, target / child.name)
        return target

    @contextmanager
    def articles(self) -> Iterator[DocStoreWriter]:
        """The new generation's article store: committed when the block ends without error."""
        from index.storage.docstore import DocStoreWriter

        path = self.path / DOCSTORE_FILE
        with self._faults_named(path):
            docs = DocStoreWriter(path)
            try:
                yield docs
                docs.commit()
            finally:
                docs.close()

    @contextmanager
    def keywords(self, title_boost: float) -> Iterator[KeywordWriter]:
        """The new generation's whoosh index: committed on success, cancelled on error."""
        from index.storage.keyword import KeywordWriter

        path = self.path / KEYWORD_DIR
        with self._faults_named(path):
            writer = KeywordWriter(path, title_boost)
            try:
                yield writer
            except BaseException:
                writer.cancel()
                raise
            writer.commit()

    @contextmanager
    def vectors(self, dim: int) -> Iterator[VectorWriter]:
        """The new generation's faiss vectors: saved when the block ends without error."""
        from index.storage.vectors import VectorWriter

        path = self.path / VECTORS_FILE
        with self._faults_named(path):
            writer = VectorWriter(dim, path)
            yield writer
            writer.save(path)

    @contextmanager
    def _faults_named(self, path: Path) -> Iterator[None]:
        try:
            yield
        except BaseException as err:
            named = self._named(path, err)
            if named is err:
                raise
            raise named from None

    def publish(self, manifest: Manifest) -> None:
        """Flush the new generation, make it live and remove old generations no reader holds.

        `manifest.generation` must be this generation's name. The generation before it is kept
        one more cycle for readers that opened it without a lease.
        """
        target = self.path
        if manifest.generation != target.name:
            raise ValueError(f"the manifest names {manifest.generation}, the transaction wrote {target.name}")
        try:
            with self._faults_named(target):
                # The generation's own copy: what a rebuild reads when manifest.json is damaged.
                (target / MANIFEST_NAME).write_text(manifest.to_json())
                fsync_tree(target)
                write_manifest(self.directory.path, manifest)
        except BaseException:
            if self.directory.live_generation() == target.name:
                self._pending = None  # switched already (only flushing failed): never remove it
                self.live = target.name
                self.published.append(target.name)
            raise
        previous_live = self.live
        self.live = manifest.generation
        self.published.append(manifest.generation)
        self._pending = None
        try:
            self.directory.prune(keep={manifest.generation, previous_live or ""})
        except (OSError, threading.ThreadError):
            pass  # published all the same; old generations are left for a later run to remove

    # -- failure ---------------------------------------------------------------------------
    def _named(self, path: Path, err: BaseException) -> BaseException:
        """`err` as a one-line AccordError naming `path`, when it is a storage fault."""
        if isinstance(err, AccordError) or not _store_fault(err):
            return err
        if is_disk_full(err):
            return IndexWriteError(f"{path}: no space left on device")  # completed by _fail
        if is_corruption(err):
            return corrupted(path, err)
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        return IndexWriteError(f"{getattr(err, 'filename', None) or path}: {reason}")

    def _fail(self, exc: BaseException | None) -> None:
        """Remove the unpublished generation; say how much space it needed if the disk filled."""
        partial = self._pending
        self._pending = None
        written = _size(partial)
        shutil.rmtree(partial, ignore_errors=True)
        if exc is None:
            return
        full = is_disk_full(exc) or (isinstance(exc, IndexWriteError) and "no space left" in str(exc))
        if not full:
            return
        live_size = _size(self.directory.generation_path(self.base)) if self.base else 0
        free = shutil.disk_usage(self.directory.path).free
        raise IndexWriteError(
            f"{partial}: no space left on device after writing {_mb(written)}; the update needs about "
            f"{_mb(max(written, live_size))} plus its new data, and {_mb(free)} are free on that disk now "
            "(the partial generation was removed; the live index is unchanged); free some space and run again"
        ) from None


def _store_fault(err: BaseException) -> bool:
    """A fault of the files rather than a bug or an interruption."""
    return isinstance(err, OSError) or is_disk_full(err) or is_corruption(err)
