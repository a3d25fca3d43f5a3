"""`accord serve`: the web app on uvicorn, optionally following folders like `accord watch`.

A `Server` checks the address and token, brings the index up to date with the watched folders,
opens it, then runs uvicorn in the calling thread and one watcher thread per watched folder.
Each batch a watcher indexes commits a new generation; the app's `LiveEngine` serves it from
the next request on, while requests in flight finish on the generation they started with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from index.embedding.encoder import Encoder
from index.errors import AccordError
from search.web.live import LiveEngine
from search.web.security import check_bind, load_token

Log = Callable[[str], None]

# uvicorn's protections against slow or greedy clients: at most this many connections and
# requests at once (more get 503), and idle keep-alive connections closed after a few seconds.
MAX_CONCURRENCY = 64
KEEP_ALIVE_SECONDS = 5
MAX_HEADER_BYTES = 16384
_LOCK_WAIT_SECONDS = 600.0  # the first build waits for another writer, like the watcher does


class Server:
    """One `accord serve`: the app on `host:port` and a watcher per folder of `watch`.

    Raises InvalidArgument for a non-loopback `host` without a token, SourceNotFound for a
    watched folder that does not exist, IndexNotFound when there is no index and nothing to
    watch. `run()` blocks until `stop()` (or Ctrl-C); it is meant for one thread, `stop()` for any.
    """

    def __init__(
        self,
        index_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        watch: Sequence[Path] = (),
        token: str | None = None,
        encoder: Encoder | None = None,
        log: Log = print,
    ) -> None:
        import uvicorn

        from search.web.app import create_app

        check_bind(host, token)
        self.index_dir = Path(index_dir).expanduser()
        self._watch = [Path(folder) for folder in watch]
        self._encoder = encoder
        self._log = log
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        if self._watch:
            self._first_build()
        self.live = LiveEngine(self.index_dir, encoder)
        self.live.open()  # fail now, with one line, when there is no usable index
        config = uvicorn.Config(
            create_app(self.live, token=token),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            limit_concurrency=MAX_CONCURRENCY,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
            server_header=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    @property
    def started(self) -> bool:
        """True once uvicorn is listening."""
        return self._uvicorn.started

    def run(self) -> None:
        """Serve (and watch) until `stop()` is called or the process is interrupted."""
        for folder in self._watch:
            thread = threading.Thread(target=self._follow, args=(folder,), name=f"accord-watch-{folder.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        try:
            self._uvicorn.run()
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=10)
            self.live.close()

    def stop(self) -> None:
        """Ask the server and its watchers to finish (requests in flight complete first)."""
        self._stop.set()
        self._uvicorn.should_exit = True

    def _first_build(self) -> None:
        from index.pipeline.builder import build

        started = time.perf_counter()
        report = build(self._watch, self.index_dir, encoder=self._encoder, lock_timeout=_LOCK_WAIT_SECONDS)
        self._log_batch(report, time.perf_counter() - started)

    def _follow(self, folder: Path) -> None:
        from index.pipeline.watch import watch

        try:
            watch(folder, self.index_dir, self._log_batch, encoder=self._encoder, stop=self._stop)
        except Exception as err:  # the server goes on serving the last generation; say why watching stopped
            self._log(f"{time.strftime('%H:%M:%S')} error: stopped watching {folder}: {type(err).__name__}: {err}")

    def _log_batch(self, report, seconds: float) -> None:
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


def serve(
    index_dir: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    watch: Sequence[Path] = (),
    token_file: Path | None = None,
    log: Log = print,
) -> None:
    """Run `accord serve` until Ctrl-C: the token from `token_file` or $ACCORD_TOKEN."""
    server = Server(index_dir, host=host, port=port, watch=watch, token=load_token(token_file), log=log)
    log(f"Serving {server.index_dir} at {server.url}" + (f", watching {', '.join(map(str, watch))}" if watch else "")
        + "; Ctrl-C stops.")
    server.run()
