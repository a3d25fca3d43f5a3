"""`accord serve` against slow, half-open and greedy clients, on a real uvicorn server on
127.0.0.1 (`search.web.server.Server`) over a tiny index built with the fake encoder: half-sent
headers and bodies do not shut other clients out and are answered 408 at the deadline, a silent
connection is closed, oversized headers get 431, one address cannot take every connection, a
client that stops reading is cut off, and every such refusal is the API's JSON error; past the
app's limit on requests in progress, a JSON 503."""

from __future__ import annotations

import errno
import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from search.web.app import create_app
from search.web.security import Guard
from search.web.server import Limits, Server
from tests.conftest import HashingEncoder, server_running
from tests.test_serve_browser import free_port

HALF_HEAD = b"GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"  # no blank line: the headers never end
WAIT_S = 30  # the bound on every wait for a condition


@contextmanager
def serving(index_dir: Path, limits: Limits | None = None) -> Iterator[int]:
    """Run a Server over `index_dir` (with the default limits unless given) in a thread; yields its port."""
    port = free_port()
    server = Server(index_dir, host="127.0.0.1", port=port, encoder=HashingEncoder(), limits=limits or Limits())
    with server_running(server, "accord-serve-hardening-test", wait_s=WAIT_S):
        yield port


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT_S, source_address=(source, 0))


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def answered(sock: socket.socket) -> bool:
    """True when the server has sent something on `sock` or closed it (without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def json_error(raw: bytes, status: int) -> str:
    """The one-line message of a raw HTTP response that must be the API's JSON error."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), raw[:200]
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    assert headers["content-type"] == "application/json" and headers["x-content-type-options"] == "nosniff"
    payload = json.loads(body)
    assert list(payload) == ["error"] and "\n" not in payload["error"]
    return payload["error"]


def get_stats(port: int, source: str = "127.0.0.1") -> httpx.Response:
    """One request on a new connection, answered within 2 s or failing."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=2.0) as client:
        return client.get(f"http://127.0.0.1:{port}/api/stats")


def test_half_sent_headers_do_not_shut_other_clients_out(built_index: Path) -> None:
    with serving(built_index) as port:
        half = [connect(port) for _ in range(70)]
        try:
            for sock in half:
                sock.sendall(HALF_HEAD)
            # Checks until the server has answered all 70 at their deadline (bounded in count and time).
            deadline = time.monotonic() + WAIT_S
            for check in range(100):
                response = get_stats(port)
                assert response.status_code == 200, response.text
                pending = [sock for sock in half if not answered(sock)]
                if check == 0:
                    assert len(pending) == 70, "the first check must run while all 70 are held"
                if not pending:
                    break
                assert time.monotonic() < deadline, "the half-sent requests were never answered"
                select.select(pending, [], [], 0.25)  # the next check when one is answered, or in 0.25 s
            else:
                pytest.fail("the half-sent requests were not answered within 100 checks")
            for sock in half:
                assert "did not arrive whole within 5 s" in json_error(read_all(sock), 408)
        finally:
            for sock in half:
                sock.close()
        assert get_stats(port).status_code == 200


@pytest.mark.parametrize("kilobytes", [17, 70])
def test_headers_over_16_kb_get_431_in_one_piece_or_many(built_index: Path, kilobytes: int) -> None:
    big = HALF_HEAD + b"X-Padding: " + b"a" * (kilobytes * 1024) + b"\r\n\r\n"
    with serving(built_index) as port:
        with connect(port) as sock:
            sock.sendall(big)
            assert "over 16384 bytes" in json_error(read_all(sock), 431)
        with connect(port) as sock:
            for start in range(0, len(big), 4096):
                sock.sendall(big[start:start + 4096])
                if answered(sock):
                    break
            assert "over 16384 bytes" in json_error(read_all(sock), 431)
        with connect(port) as sock:  # under the limit: answered as usual
            sock.sendall(HALF_HEAD + b"X-Padding: " + b"a" * 15000 + b"\r\nConnection: close\r\n\r\n")
            assert read_all(sock).startswith(b"HTTP/1.1 200 ")


def test_malformed_requests_get_a_json_400(built_index: Path) -> None:
    with serving(built_index) as port, connect(port) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert "not valid HTTP/1.1" in json_error(read_all(sock), 400)


def test_half_sent_bodies_hold_no_request_slot_and_get_408(built_index: Path) -> None:
    # 70 > the 64 requests the app takes at once: if the app counted them, the check would get 503.
    head = (b"POST /api/watchlist HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 200\r\n\r\n{\"name\": ")
    with serving(built_index) as port:
        slow = [connect(port) for _ in range(70)]
        try:
            for sock in slow:
                sock.sendall(head)
            response = get_stats(port)
            assert response.status_code == 200, response.text
            assert not any(answered(sock) for sock in slow), "the check must run while all 70 are held"
            for sock in slow:
                assert "did not arrive whole" in json_error(read_all(sock), 408)
        finally:
            for sock in slow:
                sock.close()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT_S) as client:
            assert client.get("/api/watchlist").json() == {"searches": [], "user": None}  # nothing half-sent was saved


def test_a_silent_connection_is_closed_at_the_deadline(built_index: Path) -> None:
    with serving(built_index, Limits(request_seconds=1)) as port, connect(port) as sock:
        assert read_all(sock) == b""


def test_one_address_cannot_take_every_connection(built_index: Path) -> None:
    # A long read deadline keeps the silent connections open for as long as the test needs them.
    with serving(built_index, Limits(request_seconds=WAIT_S, max_connections_per_client=20)) as port:
        held = [connect(port) for _ in range(20)]
        try:
            with connect(port) as refused:
                assert "its share" in json_error(read_all(refused), 503)
            assert get_stats(port, source="127.0.0.2").status_code == 200  # another address still gets in
        finally:
            for sock in held:
                sock.close()
        deadline = time.monotonic() + WAIT_S
        while (status := get_stats(port).status_code) == 503:  # the server sees the closes in its own time
            assert time.monotonic() < deadline, "closed connections still count against the address"
        assert status == 200


def test_a_client_that_stops_reading_is_cut_off(built_index: Path) -> None:
    with serving(built_index, Limits(send_stall_seconds=1)) as port:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's sends stall soon
        sock.settimeout(WAIT_S)
        try:
            sock.connect(("127.0.0.1", port))
            # Several copies of a 1.7 MB file, asked for at once and never read.
            sock.sendall(b"GET /static/vendor/swagger-ui/swagger-ui-bundle.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" * 4)
            deadline = time.monotonic() + WAIT_S
            while sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != errno.ECONNRESET:
                assert time.monotonic() < deadline, "the server kept waiting on a client that does not read"
                time.sleep(0.1)
        finally:
            sock.close()
        assert get_stats(port).status_code == 200


def test_requests_over_the_limit_get_a_json_503(built_index: Path) -> None:
    app = create_app(built_index, encoder=HashingEncoder())
    one_at_a_time = Guard(app, token=None, max_requests=1)
    with TestClient(one_at_a_time, base_url="http://127.0.0.1:8765") as client:
        assert [client.get("/api/stats").status_code for _ in range(3)] == [200, 200, 200]  # each slot is given back
        assert one_at_a_time.in_progress == 0
        one_at_a_time.max_requests = 0
        response = client.get("/api/stats")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert response.json() == {"error": "the server is busy (0 requests in progress); retry shortly"}
