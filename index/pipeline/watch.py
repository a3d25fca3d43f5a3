"""Keeping an index current while article files arrive: `accord watch DIR`.

File events come from watchfiles (debounced, so a burst of writes is one batch). Before a batch
is indexed, the changed files must stop changing for `settle_seconds`: a file still being
written is left for a later batch rather than indexed half-way. Each batch is one incremental
`build`, with its commit protocol, so stopping at any moment (Ctrl-C, kill) loses nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from threading import Event

from index.text.articles import JSONL_SUFFIX, TEXT_SUFFIX
from index.pipeline.builder import BuildReport, build
from index.embedding.encoder import Encoder
from index.errors import AccordError

# (report or error, seconds the batch took) for each batch.
BatchCallback = Callable[[BuildReport | AccordError, float], None]
# Run after each batch that changed the index (for example, checking saved searches).
AfterBatch = Callable[[BuildReport], None]

_LOCK_WAIT_SECONDS = 600.0  # a watcher waits for another writer rather than dropping a batch


def is_article_file(path: str) -> bool:
    """True for the files the indexer reads (.txt, .jsonl), not hidden or editor temp files."""
    name = Path(path).name
    return Path(path).suffix in (TEXT_SUFFIX, JSONL_SUFFIX) and not name.startswith(".")


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
    index_dir: Path,
    on_batch: BatchCallback,
    *,
    encoder: Encoder | None = None,
    debounce_ms: int = 1600,
    settle_seconds: float = 1.0,
    stop: Event | None = None,
    after_batch: AfterBatch | None = None,
) -> None:
    """Index `folder` now, then again after every batch of file changes, until `stop` is set.

    Errors of one batch (a bad path, a locked index) go to `on_batch` and watching goes on.
    `after_batch` is called after each batch that added, changed or removed articles; its
    AccordErrors go to `on_batch` too.
    KeyboardInterrupt propagates to the caller, between batches or inside one; either way the
    index is left at its last complete state.
    """
    from watchfiles import watch as watch_files

    if not folder.is_dir():
        from index.errors import SourceNotFound

        raise SourceNotFound(f"{folder}: not a folder; pass the folder to watch")
    _run_batch(lambda: build([folder], index_dir, encoder=encoder, lock_timeout=_LOCK_WAIT_SECONDS), on_batch, after_batch)
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
        _run_batch(lambda: build([], index_dir, encoder=encoder, lock_timeout=_LOCK_WAIT_SECONDS), on_batch, after_batch)


def _run_batch(run: Callable[[], BuildReport], on_batch: BatchCallback, after_batch: AfterBatch | None = None) -> None:
    started = time.perf_counter()
    try:
        report: BuildReport | AccordError = run()
    except AccordError as err:
        report = err
    on_batch(report, time.perf_counter() - started)
    if after_batch is not None and isinstance(report, BuildReport) and (report.added or report.updated or report.removed):
        started = time.perf_counter()
        try:
            after_batch(report)
        except AccordError as err:
            on_batch(err, time.perf_counter() - started)
