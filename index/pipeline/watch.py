"""Keeping an index current while article files arrive: `accord watch DIR`.

File events come from watchfiles (debounced, so a burst of writes is one batch). Before a batch
is indexed, the changed files must stop changing for `settle_seconds`: a file still being
written is left for a later batch rather than indexed half-way. Each batch is one incremental
`build`, with its commit protocol, so stopping at any moment (Ctrl-C, kill) loses nothing.

A watcher never stops on bad input: a bad record or file is skipped by the build and listed in
its report; a batch that fails as a whole (an unreadable file, a locked index, even a bug) is
reported to the callback as a `BatchFailed` and the next batch tries again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from threading import Event

from index.embedding.encoder import Encoder
from index.errors import AccordError
from index.pipeline.builder import BuildReport, build
from index.storage.base import Store
from index.text.articles import is_input_file
from index.text.normalise import display_path


class BatchFailed(AccordError):
    """A watched batch failed for a reason that is not one of Accord's own errors (I/O, a bug)."""


# (report or error, seconds the batch took) for each batch.
BatchCallback = Callable[[BuildReport | AccordError, float], None]
# Run after each batch that changed the index (for example, checking saved searches).
AfterBatch = Callable[[BuildReport], None]

_LOCK_WAIT_SECONDS = 600.0  # a watcher waits for another writer rather than dropping a batch


def is_article_file(path: str) -> bool:
    """True for the files the indexer reads (`articles.KINDS`), not hidden or editor temp files."""
    name = Path(path).name
    return is_input_file(path) and not name.startswith(".")


def wait_until_settled(paths: set[str], settle_seconds: float, stop: Event | None = None) -> None:
    """Return once none of `paths` has changed size or time for `settle_seconds`."""
    def snapshot() -> dict[str, tuple[int, int] | None]:
        state: dict[str, tuple[int, int] | None] = {}
        for path in paths:
            try:
                stat = Path(path).stat()
                state[path] = (stat.st_size, stat.st_mtime_ns)
            except FileNotFoundError:
                state[path] = None
        return state

    before = snapshot()
    while not (stop and stop.is_set()):
        time.sleep(settle_seconds)
        after = snapshot()
        if after == before:
            return
        before = after


def watch(
    folder: Path,
    index_dir: Path | str | Store,
    on_batch: BatchCallback,
    *,
    encoder: Encoder | None = None,
    debounce_ms: int = 1600,
    settle_seconds: float = 1.0,
    stop: Event | None = None,
    after_batch: AfterBatch | None = None,
) -> None:
    """Index `folder` now, then again after every batch of file changes, until `stop` is set.

    Errors of one batch (a bad path, a locked index, an unexpected failure) go to `on_batch` as
    the error and watching goes on; so does a failure of the file watcher itself, after which a
    full update catches whatever events it lost. `after_batch` is called after each batch that
    added, changed or removed articles; its AccordErrors go to `on_batch` too.
    KeyboardInterrupt propagates to the caller, between batches or inside one; either way the
    index is left at its last complete state.
    """
    from watchfiles import watch as watch_files

    if not folder.is_dir():
        from index.errors import SourceNotFound

        raise SourceNotFound(f"{folder}: not a folder; pass the folder to watch")

    def update() -> BuildReport:
        return build([], index_dir, encoder=encoder, lock_timeout=_LOCK_WAIT_SECONDS)

    _run_batch(lambda: build([folder], index_dir, encoder=encoder, lock_timeout=_LOCK_WAIT_SECONDS), on_batch, after_batch)
    while not (stop and stop.is_set()):
        try:
            for changes in watch_files(
                folder,
                watch_filter=lambda _change, path: is_article_file(path),
                debounce=debounce_ms,
                stop_event=stop,
                raise_interrupt=True,
            ):
                wait_until_settled({path for _change, path in changes}, settle_seconds, stop)
                if stop and stop.is_set():
                    return
                _run_batch(update, on_batch, after_batch)
            return
        except RuntimeError as err:
            # watchfiles' Rust core gives up on an event it cannot turn into a str path, such as
            # a file name that is not UTF-8 ("Unable to decode path"). Its events are lost, so
            # watch again and run a full update, which stats every file and reports that one.
            if type(err).__name__ != "WatchfilesRustInternalError":  # its module is private
                raise
            on_batch(BatchFailed(f"file watcher: {err}; watching again"), 0.0)
            time.sleep(debounce_ms / 1000)  # never a busy loop, whatever the watcher's trouble
            _run_batch(update, on_batch, after_batch)


def _run_batch(run: Callable[[], BuildReport], on_batch: BatchCallback, after_batch: AfterBatch | None = None) -> None:
    started = time.perf_counter()
    try:
        report: BuildReport | AccordError = run()
    except AccordError as err:
        report = err
    except OSError as err:  # e.g. a file deleted or made unreadable between the event and the read
        where = display_path(os.fsdecode(err.filename)) if isinstance(err.filename, (str, bytes)) else "index"
        report = BatchFailed(f"{where}: {err.strerror or err}; the batch is retried at the next change")
    except Exception as err:  # a bug must not end the watch: report it, keep the last good state
        report = BatchFailed(
            f"internal error: {type(err).__name__}: {err}; the index keeps its last complete state "
            "and the batch is retried at the next change"
        )
    on_batch(report, time.perf_counter() - started)
    if after_batch is not None and isinstance(report, BuildReport) and (report.added or report.updated or report.removed):
        started = time.perf_counter()
        try:
            after_batch(report)
        except AccordError as err:
            on_batch(err, time.perf_counter() - started)
