"""The write transaction of an index directory: lock, read, link, write, publish, prune.

See `WriteTransaction(IndexDirectory(path))`; the builder is its only user.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from index.errors import AccordError, IndexIncompatible, IndexLocked, IndexWriteError
from index.storage.directory import IndexDirectory, fsync_tree
from index.storage.faults import corrupted, is_corruption, is_disk_full
from index.storage.layout import KEYWORD_DIR, SEGMENTS_FILE, docstore_file, vectors_file
from index.storage.manifest import MANIFEST_NAME, BuildSettings, Manifest, write_manifest

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from index.storage.docstore import DocStore, DocStoreWriter
    from index.storage.keyword import KeywordWriter
    from index.storage.segments import StoreSegments
    from index.storage.vectors import SegmentVectorWriter


class Committable(Protocol):
    def commit(self) -> None: ...
    def cancel(self) -> None: ...


W = TypeVar("W", bound=Committable)


@contextmanager
def committed(writer: W) -> Iterator[W]:
    """`writer` for a `with` block: committed when the block ends without error, cancelled
    (and the error raised on) when it does not."""
    try:
        yield writer
    except BaseException:
        writer.cancel()
        raise
    writer.commit()


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

        with WriteTransaction(IndexDirectory(path), lock_timeout=0, fresh=False) as tx:
            tx.previous, tx.sources          # read under the lock
            tx.begin()                       # a new generation: links to the live one's files
            with tx.articles() as docs: ...  # the writers commit on success, cancel on error
            with tx.vectors(dim) as vectors: ...
            with tx.keywords(title_boost) as keywords: ...
            tx.publish(manifest)             # fsync, switch the manifest, prune

    A new generation starts as hard links to every file of the one before (each store's files
    are written once and never changed: index/storage/segments.py, the whoosh segments), and
    each writer adds a segment of its own, so an update writes in proportion to what it
    changes. A writer never writes through a linked name: it writes new files, or replaces a
    name by renaming a new file onto it.

    Entering takes the write lock (`INDEX_DIR/.lock`, filelock) first and only then reads the
    manifest and the known sources, so a writer that waited for the lock builds on the latest
    generation, never on one it read before waiting. `begin`/`publish` may repeat: each publish
    makes what was written so far searchable, and the next `begin` links it. Leaving the block
    with an error removes the unpublished generation (the live one is untouched) and raises a
    one-line AccordError: IndexWriteError for a full disk (with the space the update needed) or
    another I/O error, IndexCorrupted for a damaged store file. Leaving it without an error
    but with an unpublished generation discards that generation.

    One thread uses a transaction; the lock keeps other processes (and other transactions of
    this one) out.
    """

    def __init__(self, directory: IndexDirectory, lock_timeout: float = 0.0, fresh: bool = False) -> None:
        self.directory = directory
        self.store = directory  # what the builder reports, as for every kind of store
        self.lock_timeout = lock_timeout
        self.fresh = fresh
        self.previous: Manifest | None = None
        self.sources: list[str] = []
        self.live: str | None = None
        self.published: list[str] = []
        self._lock: BaseFileLock | None = None
        self._pending: Path | None = None
        # The keyword segments the index held before this transaction's first keyword write,
        # and whether the generation being written is the run's last (see `last_batch`).
        self._keyword_start: frozenset[str] | None = None
        self._last = False
        # The article and vector segments of the generation being written, as its writers left
        # them; the passage id its new segments start from; the segment names this run wrote (a
        # run's last batch folds them).
        self._segments: StoreSegments | None = None
        self._segments_written = False
        self._first_passage = 1
        self._run_segments: set[str] = set()

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
        """Start the next generation, with `base`'s files unless `copy` is False; returns its folder."""
        from index.storage.segments import StoreSegments, legacy_segments, read_segments

        if self._pending is not None:
            raise RuntimeError("publish the current generation before beginning another")
        name = self.directory.next_generation_name()
        target = self.directory.generation_path(name)
        target.mkdir()
        self._pending = target
        self._segments, self._segments_written = None, False
        base = self.base if copy else None
        if base is None:
            self._segments = StoreSegments()
        else:
            source = self.directory.generation_path(base)
            for child in source.iterdir():
                if child.name in (MANIFEST_NAME, SEGMENTS_FILE):
                    continue  # written anew for this generation
                with self._faults_named(target / child.name):
                    if child.is_dir():
                        shutil.copytree(child, target / child.name, copy_function=_link_segment)
                    else:
                        _link_file(child, target / child.name)
            listed = read_segments(source)
            if listed is None:  # written before segments: its article store is counted
                with self._faults_named(source / docstore_file("")):
                    listed = legacy_segments(source)
            self._segments = listed
        self._first_passage = self._segments.next_passage
        return target

    def _segment_name(self) -> str:
        from index.storage.segments import segment_name

        return segment_name(self.generation)

    def _fold_always(self, names: list[str]) -> list[bool]:
        """Which of these segments a writer must fold in: on the run's last batch, the run's own."""
        return [self._last and name in self._run_segments for name in names]

    def _store_segments(self) -> StoreSegments:
        if self._segments is None:
            raise RuntimeError("begin() a generation first")
        return self._segments

    @contextmanager
    def live_store(self) -> Iterator[DocStore | None]:
        """The live generation's article store, read-only (None for a new or rebuilt index).
        Raises IndexCorrupted when it cannot be read."""
        import sqlite3

        from index.storage.docstore import open_docstore
        from index.storage.segments import read_segments

        if self.previous is None or self.live is None:
            yield None
            return
        folder = self.directory.generation_path(self.live)
        path = folder / docstore_file("")
        try:
            segments = read_segments(folder)
            store = open_docstore(folder, None if segments is None else segments.docs)
            try:
                yield store
            finally:
                store.close()
        except sqlite3.DatabaseError as err:
            raise corrupted(path, err) from None

    @contextmanager
    def articles(self) -> Iterator[DocStoreWriter]:
        """The new generation's article store: a new segment over the ones it keeps, committed
        (with the segments it folds in) when the block ends without error."""
        from index.storage.docstore import DocStoreWriter

        segments = self._store_segments()
        name = self._segment_name()
        path = self.path / docstore_file(name)
        if path.exists():
            raise RuntimeError(f"{self.generation}'s article store was written already")
        older = [(self.path / docstore_file(s.name), s) for s in segments.docs]
        always = self._fold_always([s.name for s in segments.docs])
        with self._faults_named(path):
            docs = DocStoreWriter(path, older, segments.next_passage, always, name)
            try:
                yield docs
                docs.commit()
            finally:
                docs.close()
            for _path, entry in older[docs.folded :]:
                (self.path / docstore_file(entry.name)).unlink(missing_ok=True)
            if docs.folded == 0:
                os.replace(path, self.path / docstore_file(""))
        self._segments = replace(segments, docs=tuple(docs.segments), next_passage=docs.next_passage)
        self._segments_written = True
        self._run_segments.add(docs.segments[-1].name)

    def last_batch(self) -> None:
        """Say that the generation being written (or the next one begun) is this run's last,
        so that its keyword commit folds every segment the run wrote into one: a build ends
        merged, and an update leaves the segments it found to the size-tiered policy."""
        self._last = True

    @contextmanager
    def keywords(
        self, title_boost: float, stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words
    ) -> Iterator[KeywordWriter]:
        """The new generation's whoosh index: committed on success, cancelled on error. A new
        index analyses text with `stemmer` and `stop_words` (BuildSettings); one copied from the
        live generation keeps its own."""
        from index.storage.keyword import KeywordWriter

        path = self.path / KEYWORD_DIR
        with self._faults_named(path):
            writer = KeywordWriter(path, title_boost, stemmer=stemmer, stop_words=stop_words)
            if self._keyword_start is None:  # the run's first write: what the index held before it
                self._keyword_start = writer.segment_ids
            if self._last:
                writer.end_run(self._keyword_start)
            with committed(writer):
                yield writer

    @contextmanager
    def vectors(self, dim: int) -> Iterator[SegmentVectorWriter]:
        """The new generation's faiss vectors: a new segment over the ones it keeps, saved
        (with the segments it folds in) when the block ends without error."""
        from index.storage.vectors import SegmentVectorWriter

        segments = self._store_segments()
        name = self._segment_name()
        always = self._fold_always([s.name for s in segments.vectors])
        with self._faults_named(self.path / vectors_file(name)):
            writer = SegmentVectorWriter(dim, self.path, segments.vectors, name, self._first_passage, always)
            yield writer
            writer.commit()
        self._segments = replace(self._store_segments(), vectors=tuple(writer.segments))
        self._segments_written = True
        if writer.segments:
            self._run_segments.add(writer.segments[-1].name)

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
                if self._segments is not None and self._segments_written:
                    self._segments.write(target)
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
        written = 0
        if partial is not None:
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
            f"{partial or self.directory.path}: no space left on device after writing {_mb(written)}; the update needs about "
            f"{_mb(max(written, live_size))} plus its new data, and {_mb(free)} are free on that disk now "
            "(the partial generation was removed; the live index is unchanged); free some space and run again"
        ) from None


def _link_file(source: Path, target: Path) -> None:
    """Hard-link a store file into the next generation (copied where a link cannot be made, as
    on another file system): a segment file is never written again once published."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_segment(source: str, target: str) -> None:
    """Copy one file of a keyword index into the next generation: a whoosh segment file (.seg)
    is hard-linked, since whoosh writes each segment once under a new name and never changes it
    (deletions live in the TOC, merges write new segments), so the generations can share it and
    an update stops copying the whole keyword index; other files (the TOC) are copied. Where a
    link cannot be made (another file system), the segment is copied."""
    if source.endswith(".seg"):
        try:
            os.link(source, target)
            return
        except OSError:
            pass
    shutil.copy2(source, target)


def _store_fault(err: BaseException) -> bool:
    """A fault of the files rather than a bug or an interruption."""
    return isinstance(err, OSError) or is_disk_full(err) or is_corruption(err)
