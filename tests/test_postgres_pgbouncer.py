"""PgBouncer in transaction mode in front of a PostgreSQL store, as docs/guide.md ("Operations",
Connections) sets it up: searches (every mode, several Engines at once, more clients than the
pool has server connections), `accord serve` over it, and saved searches written through it,
all answer as they do on the server directly.

Against real programs on 127.0.0.1: the session's PostgreSQL 18 (tests/postgres_fixtures.py)
and Debian's pgbouncer, run as the same unprivileged user as the server when the tests run as
root (PgBouncer refuses to run as root). `sh tests/install-system-packages.sh` installs it (the
README's test command runs it); without it these tests are skipped, saying so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from index.filters import Filters
from index.pipeline.builder import build
from index.storage.postgres.connection import connect
from index.storage.postgres.local_server import LocalPostgres, free_port
from search.engine import Engine
from search.views.watchlist import Watchlist
from search.web.server import Server
from tests.conftest import SEEDS, HashingEncoder, requires, server_running

pytestmark = requires("local-postgres")

QUERIES = ["military-technical cooperation Libya", "arms sales to North Africa", '"military cooperation"', "navy AND NOT Iran"]
MODES = ("keyword", "semantic", "hybrid")
# Fewer server connections than the Engines below keep open (each pool keeps one): only
# transaction pooling lets them all search; in session mode the third would wait for a free one.
POOL_SIZE = 2
ENGINES = 4
# The settings docs/guide.md gives, bar the addresses and files of this test.
SETTINGS = {
    "pool_mode": "transaction",
    "default_pool_size": str(POOL_SIZE),
    "max_client_conn": "100",
    "auth_type": "scram-sha-256",
}


def _pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if Path(p).exists()), None)


@dataclass
class Bouncer:
    """A running pgbouncer on 127.0.0.1:`port` in front of one database of the test server."""

    port: int
    database: str
    folder: Path

    def url(self, server_url: str) -> str:
        """`server_url` (a role's URL on the server) through PgBouncer instead."""
        parts = urlsplit(server_url)
        return f"postgresql://{parts.username}:{parts.password}@127.0.0.1:{self.port}/{self.database}"


def _start(postgres: LocalPostgres, database: str, users: dict[str, str]) -> tuple[Bouncer, subprocess.Popen]:
    program = _pgbouncer()
    if program is None:
        pytest.skip("pgbouncer is not installed: sh tests/install-system-packages.sh (Debian's pgbouncer)")
    folder = Path(tempfile.mkdtemp(prefix="accord-pgbouncer-"))
    port = free_port()
    userlist = "".join(f'"{user}" "{password}"\n' for user, password in users.items())
    (folder / "userlist.txt").write_text(userlist)
    settings = {
        "listen_addr": "127.0.0.1", "listen_port": str(port), "unix_socket_dir": "",
        "auth_file": str(folder / "userlist.txt"), "logfile": str(folder / "pgbouncer.log"), **SETTINGS,
    }
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n{database} = host=127.0.0.1 port={postgres.port} dbname={database}\n\n[pgbouncer]\n"
        + "".join(f"{key} = {value}\n" for key, value in settings.items())
    )
    for path in (folder / "userlist.txt", folder / "pgbouncer.ini"):
        path.chmod(0o600)
    if postgres.user is not None:  # root: run it as the server's user, who must read its files
        for path in (folder, folder / "userlist.txt", folder / "pgbouncer.ini"):
            shutil.chown(path, postgres.user)
    process = subprocess.Popen(
        [program, str(folder / "pgbouncer.ini")], user=postgres.user, cwd=folder,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 30
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            said = process.communicate()[1].strip() or _tail(folder / "pgbouncer.log")
            shutil.rmtree(folder, ignore_errors=True)
            pytest.fail(f"pgbouncer did not start: {said}")
        time.sleep(0.05)
    return Bouncer(port, database, folder), process


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _tail(log: Path) -> str:
    try:
        return "\n".join(log.read_text().splitlines()[-5:])
    except OSError:
        return "(no log)"


@dataclass
class Store:
    """The seeds in a database of the test server, and PgBouncer in front of it."""

    writer: str  # the writer's URL on the server
    reader: str  # the read-only role's URL on the server
    bouncer: Bouncer
    postgres: LocalPostgres


@pytest.fixture
def store(postgres_server: LocalPostgres, pg_url: str, pg_reader_url: str) -> Iterator[Store]:
    build([SEEDS], pg_url, encoder=HashingEncoder())  # writers go to the server directly
    users = {urlsplit(url).username or "": urlsplit(url).password or "" for url in (pg_url, pg_reader_url)}
    bouncer, process = _start(postgres_server, pg_url.rsplit("/", 1)[1], users)
    try:
        yield Store(pg_url, pg_reader_url, bouncer, postgres_server)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(bouncer.folder, ignore_errors=True)


def _answers(engine: Engine) -> list[tuple[str, str, list[tuple[str, float]]]]:
    return [
        (query, mode, [(hit.id, round(hit.score, 6)) for hit in engine.search(query, k=5, mode=mode)])
        for query in QUERIES for mode in MODES
    ]


def _server_sessions(store: Store, role: str) -> int:
    """How many sessions `role` has on the server now (PgBouncer's, when it goes through it)."""
    with connect(store.writer, autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s", (role, store.bouncer.database),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_searches_through_pgbouncer_in_transaction_mode_give_the_same_hits(store: Store) -> None:
    with Engine.open(store.reader, encoder=HashingEncoder()) as direct:
        expected = _answers(direct)
    assert any(hits for _q, _m, hits in expected)
    reader = store.bouncer.url(store.reader)
    role = urlsplit(store.reader).username or ""

    # Several Engines, each keeping its pooled connection to PgBouncer open, search at once, many
    # times over: more clients than PgBouncer has server connections, which only transaction
    # pooling serves. Each search is one read-only transaction: its two legs see one snapshot.
    engines = [Engine.open(reader, encoder=HashingEncoder()) for _ in range(ENGINES)]
    try:
        with ThreadPoolExecutor(ENGINES) as pool:
            answers = list(pool.map(lambda engine: [_answers(engine) for _ in range(3)], engines))
        assert all(rounds == [expected] * 3 for rounds in answers)
        assert 1 <= _server_sessions(store, role) <= POOL_SIZE  # the Engines' connections share two

        # An update written to the server directly is what the next search through PgBouncer sees.
        folder = store.postgres.data_dir.parent / "pgbouncer-corpus"
        shutil.copytree(SEEDS, folder)
        try:
            (folder / "grain.txt").write_text("Grain Corridor Deal\nEgypt and Ukraine agreed a grain corridor deal.\n")
            build([folder], store.writer, encoder=HashingEncoder())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        found = engines[0].search("grain corridor", k=3, mode="keyword")
        assert [hit.title for hit in found][:1] == ["Grain Corridor Deal"]
    finally:
        for engine in engines:
            engine.close()


def test_saved_searches_are_written_through_pgbouncer(store: Store) -> None:
    """Saving, checking and removing searches are short transactions (the watchlist's lock is a
    table lock, released at commit): through PgBouncer in transaction mode they work, from
    several threads at once, however often one connection repeats a statement."""
    writer = store.bouncer.url(store.writer)
    watchlist = Watchlist(writer)
    members = [f"article-{i}" for i in range(20)]  # more rows than psycopg's prepare threshold (5)

    def save(i: int) -> None:
        for j in range(3):
            watchlist.add(f"search-{i}-{j}", "Libya arms", Filters(), None, members)

    with ThreadPoolExecutor(ENGINES) as pool:
        list(pool.map(save, range(ENGINES)))
    names = [saved.name for saved in Watchlist(store.bouncer.url(store.reader)).searches()]
    assert names == sorted(f"search-{i}-{j}" for i in range(ENGINES) for j in range(3))
    for name in names:
        watchlist.remove(name)
    assert Watchlist(store.reader).searches() == []


def test_accord_serve_through_pgbouncer(store: Store) -> None:
    """`accord serve --db` with PgBouncer's URL: searches and saving a search over HTTP."""
    port = free_port()
    server = Server(store.bouncer.url(store.writer), host="127.0.0.1", port=port, encoder=HashingEncoder())
    with server_running(server, "accord-serve-pgbouncer-test"):
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http, \
                Engine.open(store.writer, encoder=HashingEncoder()) as direct:
            expected = [hit.id for hit in direct.search(QUERIES[0], k=5)]
            with ThreadPoolExecutor(ENGINES) as pool:
                found = list(pool.map(lambda _: http.get("/api/search", params={"q": QUERIES[0], "k": 5}), range(12)))
            for response in found:
                assert response.status_code == 200, response.text
                assert [hit["id"] for hit in response.json()["hits"]] == expected
            saved = http.post("/api/watchlist", json={"name": "libya", "query": QUERIES[0]})
            assert saved.status_code == 201, saved.text
            assert [s["name"] for s in http.get("/api/watchlist").json()["searches"]] == ["libya"]
            assert http.get("/healthz").status_code == 200
