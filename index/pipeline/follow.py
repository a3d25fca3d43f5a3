"""Following folders in the background while something else (a server) reads the index.

`Followers(folders, index_dir, log)`: `prepare()` brings the index up to date with the folders
(creating it if need be), `start()` runs `watch` over each folder in a daemon thread, `stop()`
ends them between batches. Each batch commits a new generation, as `accord watch` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from index.embedding.encoder import Encoder
from index.errors import AccordError
from index.pipeline.builder import BuildReport, build
from index.pipeline.watch import watch
from index.storage.base import Store
from index.storage.factory import open_store

_LOCK_WAIT_SECONDS = 600.0  # the first build waits for another writer, like the watcher does


class Followers:
    """Watchers of `folders` for `index_dir`, logging one line per batch through `log`.

    `prepare()` runs in the caller's thread; `start()` and `stop()` may be called from any thread.
    """

    def __init__(
        self,
        folders: Sequence[Path],
        index_dir: Path | str,
        log: Callable[[str], None],
        *,
        encoder: Encoder | None = None,
    ) -> None:
        self.folders = [Path(folder) for folder in folders]
        self.index_dir: Store = open_store(index_dir)
        self._log = log
        self._encoder = encoder
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def prepare(self) -> None:
        """Index the folders now (raises SourceNotFound for a missing one)."""
        started = time.perf_counter()
        report = build(self.folders, self.index_dir, encoder=self._encoder, lock_timeout=_LOCK_WAIT_SECONDS)
        self.log_batch(report, time.perf_counter() - started)

    def start(self) -> None:
        """Watch each folder in a daemon thread."""
        for folder in self.folders:
            thread = threading.Thread(target=self._follow, args=(folder,), name=f"accord-watch-{folder.name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop watching (a batch being indexed is finished first, up to 10 s per folder)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def _follow(self, folder: Path) -> None:
        try:
            watch(folder, self.index_dir, self.log_batch, encoder=self._encoder, stop=self._stop)
        except Exception as err:  # the reader goes on with the last generation; say why watching stopped
            self._log(f"{time.strftime('%H:%M:%S')} error: stopped watching {folder}: {type(err).__name__}: {err}")

    def log_batch(self, report: BuildReport | AccordError, seconds: float) -> None:
        """One line per batch, as `accord watch` prints it."""
        stamp = time.strftime("%H:%M:%S")
        if isinstance(report, AccordError):
            self._log(f"{stamp} error: {report}")
            return
        for skipped in report.skipped:
            self._log(f"{stamp} skipped {skipped.path}: {skipped.reason}")
        self._log(
            f"{stamp} {report.added} added, {report.updated} updated, {report.removed} removed, "
            f"{report.unchanged} unchanged; {report.articles} articles ({seconds:.1f}s)"
        )
