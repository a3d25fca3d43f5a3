"""HTTP/1.1 connections for `accord serve`: uvicorn's h11 protocol with deadlines, a fair share
of connections per client address, and an enforced header limit (`Limits`).

uvicorn alone holds a connection as long as its client likes until the first request, and
while a request's headers or body trickle in; it checks the header limit only while the
headers are incomplete (a whole 70 KB head arriving at once passes), and its own errors are
plain text. `HardenedH11Protocol` adds, per connection:

- a read deadline: a request's headers and body must all arrive within `request_seconds` of its
  first byte (for a connection's first request, of the connection opening); otherwise the
  client gets a 408 and the connection is closed (a connection that never sent a byte is closed
  silently, like an idle keep-alive one);
- the header limit: a request line and headers over `max_header_bytes` get a 431, whether they
  arrive in one piece or many; any other malformed request a 400;
- a share of connections: a client address holding `max_connections_per_client` connections,
  or a server holding `max_connections`, has its next connection answered 503 and closed;
- a send deadline: a client that takes no response data for `send_stall_seconds` while the
  server waits to send it (or to close the connection) is cut off.

Every error this layer writes is the API's JSON error (`search.web.security.raw_error`).
Requests only reach the app with their headers whole, so half-sent requests never count
against the app's limit on requests in progress (`search.web.security.Guard`).

All of this runs on the server's event loop thread; nothing here is shared with other threads.
"""

from __future__ import annotations

import asyncio
import re
import socket
import struct
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from search.web.security import raw_error

# After an error answer, how long the client has to take it and close its end before a reset.
LINGER_SECONDS = 1.0

# Where a request's head ends, as h11 finds it (it accepts bare LF line ends too).
END_OF_HEAD = re.compile(b"\n\r?\n")


@dataclass(frozen=True)
class Limits:
    """What one connection may take of the server (see the module docstring); the defaults are
    the documented ones."""

    request_seconds: float = 5.0  # a request's headers and body, from its first byte (or the connection opening)
    keep_alive_seconds: int = 5  # an idle connection between requests
    max_header_bytes: int = 16384  # request line and headers
    max_connections: int = 512  # half of a common 1024 open-files limit, leaving room for the index's files
    max_connections_per_client: int = 128  # per client address: a quarter of the connections
    send_stall_seconds: float = 30.0  # a client taking no response data while the server waits to send it


class HardenedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the protections of the module docstring; `limits` is set by
    `protocol_for` on a subclass made per server."""

    limits: Limits = Limits()

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limit_concurrency = None  # requests in progress are counted by the app (Guard), not connections
        self._read_deadline: asyncio.TimerHandle | None = None
        self._send_deadline: asyncio.TimerHandle | None = None
        self._linger: asyncio.TimerHandle | None = None
        self._closing = False  # an error was answered: what the client sends now is dropped
        self._lost = False

    # ---- connections ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        address = _address(transport)
        from_client = sum(1 for other in self.connections if isinstance(other, H11Protocol) and other.client
                          and other.client[0] == address)
        total = len(self.connections)
        super().connection_made(transport)
        if total >= self.limits.max_connections:
            self._refuse(503, f"the server holds {total} connections, its limit; retry shortly")
        elif from_client >= self.limits.max_connections_per_client:
            self._refuse(503, f"your address holds {from_client} connections to this server, its share; "
                              "close some or reuse them (keep-alive)")
        else:
            self._arm_read_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for timer in (self._read_deadline, self._send_deadline, self._linger):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def _refuse(self, status: int, message: str) -> None:
        """Answer before any request is read and close at once: a refused connection must not
        linger and count against others (a client that already sent its request may see a reset
        instead of the answer)."""
        self._closing = True
        self.transport.write(raw_error(status, message))
        self.transport.close()
        self._arm_send_deadline()

    def _answer_and_close(self, status: int, message: str) -> None:
        """Send an error and close. The write side is shut first and what the client still sends
        is read and dropped, so the kernel does not reset the connection (dropping the answer)
        over unread data; a client that does not close its side is reset after LINGER_SECONDS."""
        self._closing = True
        self._unset_keepalive_if_required()
        self.transport.write(raw_error(status, message))
        self.flow.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()  # asyncio closes the transport when the client's end closes
        else:
            self.transport.close()
        self._linger = self.loop.call_later(LINGER_SECONDS, self._reset)

    def data_received(self, data: bytes) -> None:
        if not self._closing:
            super().data_received(data)

    # ---- reading requests ----------------------------------------------------------------------

    def handle_events(self) -> None:
        if self._closing or (self.conn.their_state is h11.IDLE and self._head_too_large()):
            return
        super().handle_events()
        if self._closing or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.SEND_BODY or (state is h11.IDLE and self.conn.trailing_data[0]):
            self._arm_read_deadline()  # a request has begun and is not yet whole
        elif state is not h11.IDLE and self._read_deadline is not None:
            self._read_deadline.cancel()  # the request is whole (or the connection is ending)
            self._read_deadline = None
        # IDLE with nothing received: between requests, uvicorn's keep-alive timeout closes an idle
        # connection; a new connection's first request is still under the deadline set when it opened.

    def _head_too_large(self) -> bool:
        """Answer 431 and close when the request's head (line and headers) is over the limit."""
        limit = self.limits.max_header_bytes
        received = self.conn.trailing_data[0]
        if len(received) <= limit:
            return False
        end = END_OF_HEAD.search(received, 0, limit + 3)
        if end is not None and end.end() <= limit:
            return False
        self._answer_and_close(431, f"the request's headers are over {limit} bytes; send at most {limit}")
        return True

    def _arm_read_deadline(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.limits.request_seconds, self._read_timed_out)

    def _read_timed_out(self) -> None:
        self._read_deadline = None
        if self._closing or self.transport.is_closing():
            return
        state = self.conn.their_state
        started = state is h11.SEND_BODY and self.cycle is not None and self.cycle.response_started
        if (state is h11.IDLE and not self.conn.trailing_data[0]) or started:
            # Nothing to answer (an idle new connection, or a response already sent).
            self._closing = True
            self.transport.close()
            self._arm_send_deadline()
            return
        if self.cycle is not None and state is h11.SEND_BODY:
            self.cycle.disconnected = True  # the app stops waiting for the body and sends nothing more
            self.cycle.message_event.set()
        seconds = self.limits.request_seconds
        self._answer_and_close(408, f"the request did not arrive whole within {seconds:g} s of its start; "
                                    "send headers and body at once")

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request h11 cannot parse, as the API's JSON error."""
        self._answer_and_close(400, "the request is not valid HTTP/1.1")

    # ---- sending responses ---------------------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        self._arm_send_deadline()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_deadline is not None and not self.transport.is_closing():
            self._send_deadline.cancel()
            self._send_deadline = None

    def on_response_complete(self) -> None:
        if self.transport.is_closing():
            self._arm_send_deadline()  # a `Connection: close` response still being sent
        super().on_response_complete()

    def timeout_keep_alive_handler(self) -> None:
        super().timeout_keep_alive_handler()
        self._arm_send_deadline()

    def shutdown(self) -> None:
        if self._closing:
            self.transport.close()  # an error already answered: stop waiting for the client's end
        else:
            super().shutdown()
        if self.transport.is_closing():
            self._arm_send_deadline()

    def _arm_send_deadline(self) -> None:
        if self._send_deadline is None and not self._lost:
            self._send_deadline = self.loop.call_later(self.limits.send_stall_seconds, self._send_timed_out)

    def _send_timed_out(self) -> None:
        self._send_deadline = None
        self._reset()

    def _reset(self) -> None:
        """Drop the connection now, with whatever it still had to send."""
        if self._lost:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Reset rather than close: a closed socket would keep the unsent data in the kernel,
            # retrying a client that takes none.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()  # connection_lost follows


def protocol_for(limits: Limits) -> type[HardenedH11Protocol]:
    """The protocol class uvicorn instantiates per connection, carrying `limits`."""
    return type("AccordH11Protocol", (HardenedH11Protocol,), {"limits": limits})


def _address(transport: asyncio.Transport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
