"""`accord serve`: the web app on uvicorn, optionally beside background work such as watchers.

A `Server` checks the address and token, lets its background work prepare the index (the
watchers of `--watch` index their folders first), opens the index, then runs uvicorn in the
calling thread while the background work runs in its own threads. The query side never imports
the build side: `cli.py` hands the watchers in (`index.pipeline.follow.Followers`). Each batch
a watcher indexes commits a new generation; the app refreshes its Engine onto it for the next
request, while requests in flight finish on the generation they started with.

What protects the server from slow, half-open and greedy clients (every refusal is the API's
JSON error, `{"error": "one line"}`):

- connections (`search.web.connections`, on uvicorn's h11 protocol, with `Limits`): a request's
  headers and body must arrive whole within 5 s of its first byte, or of the connection opening
  (else 408, and a silent new connection is closed); request line and headers of at most 16 KB
  (else 431); an idle keep-alive connection is closed after 5 s; a client address holds at most
  128 connections and the server 512 (the next one is answered 503 and closed); a client that
  takes no response data for 30 s is cut off;
- requests (`search.web.security.Guard`): at most 64 in progress, counted once their body is
  in (more get 503), with the URL, body, query and `k` limits of `search.web.security`.

Half-sent requests therefore hold a connection for 5 s at most and never a request slot, and one
address cannot take all connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from index.embedding.encoder import Encoder
from index.errors import InvalidArgument
from search.web.connections import Limits
from search.web.live import LiveEngine
from search.web.security import Tokens, check_bind, load_token, load_tokens

Log = Callable[[str], None]


class Background(Protocol):
    """Work that runs beside the server (the `--watch` folders' watchers)."""

    def prepare(self) -> None:
        """Run before the index is opened, in the caller's thread."""

    def start(self) -> None:
        """Start in background threads once the server runs."""

    def stop(self) -> None:
        """Stop when the server stops."""


class Server:
    """One `accord serve`: the app on `host:port`, and `background` work beside it.

    Raises InvalidArgument for a non-loopback `host` without a token (before anything else
    happens), IndexNotFound when there is no index. `limits` bounds what each connection may
    take. `run()` blocks until `stop()` (or Ctrl-C); it is meant for one thread, `stop()` for any.
    """

    def __init__(
        self,
        index_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str | Tokens | None = None,
        encoder: Encoder | None = None,
        background: Background | None = None,
        replicas: Sequence[str] = (),
        limits: Limits | None = None,
        access_log: Callable[[str], None] | None = None,
    ) -> None:
        import uvicorn

        from search.web.app import create_app
        from search.web.connections import protocol_for

        limits = limits or Limits()
        check_bind(host, token)
        self._background = background
        if background is not None:
            background.prepare()
        self.live = LiveEngine(index_dir, encoder, replicas)
        self.index_dir = self.live.index_dir
        self.location = self.live.location  # what the log shows: never a password
        self.live.open()  # fail now, with one line, when there is no usable index
        config = uvicorn.Config(
            create_app(self.live, token=token, access_log=access_log),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            http=protocol_for(limits),
            ws="none",  # no websockets: an Upgrade request is answered as plain HTTP
            timeout_keep_alive=limits.keep_alive_seconds,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            server_header=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"

    @property
    def started(self) -> bool:
        """True once uvicorn is listening."""
        return self._uvicorn.started

    def run(self) -> None:
        """Serve (with the background work running) until `stop()` or an interrupt."""
        if self._background is not None:
            self._background.start()
        try:
            self._uvicorn.run()
        finally:
            if self._background is not None:
                self._background.stop()
            self.live.close()

    def stop(self) -> None:
        """Ask the server to finish (requests in flight complete first); run() then stops the rest."""
        self._uvicorn.should_exit = True


def serve(
    index_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    token_file: Path | None = None,
    tokens_file: Path | None = None,
    background: Background | None = None,
    log: Log = print,
    replicas: Sequence[str] = (),
    access_log: Log | None = None,
) -> None:
    """Run `accord serve` until Ctrl-C: the named tokens of `tokens_file` (one user each), else the
    single token from `token_file` or $ACCORD_TOKEN. Raises InvalidArgument when both files are
    given. `index_dir`
    is a folder or a postgresql:// URL (searches then prefer `replicas`). `access_log` gets one
    line per request (search.web.ops)."""
    if tokens_file is not None and token_file is not None:
        raise InvalidArgument("--token-file and --tokens-file both given: give one (a tokens file may name several users)")
    token = load_tokens(tokens_file) if tokens_file is not None else load_token(token_file)
    server = Server(index_dir, host=host, port=port, token=token, background=background,
                    replicas=replicas, access_log=access_log)
    log(f"Serving {server.location} at {server.url}; Ctrl-C stops.")
    server.run()
