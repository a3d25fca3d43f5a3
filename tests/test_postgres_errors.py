"""A PostgreSQL store that cannot be used is one line on stderr naming the cause, on every path
(`accord search`, `accord index`, `accord serve`, saving a search), with the fix where there is one."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.pipeline.builder import build
from index.storage.postgres import connection, generation
from index.storage.postgres.local_server import free_port
from tests.conftest import FAKE_MODEL, SEEDS, HashingEncoder, requires

pytestmark = requires("postgres")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where the kernel completes TCP connections but no server ever answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def _url(cause: str, postgres_server, silent_port: int) -> str:
    return {
        "password": postgres_server.url(password="wrong-password"),
        "database": postgres_server.url(database="no_such_db"),
        "refused": f"postgresql://accord:wrong-password@127.0.0.1:{free_port()}/accord",
        "timeout": f"postgresql://accord:wrong-password@127.0.0.1:{silent_port}/accord",
    }[cause]


SAID = {
    "password": 'password authentication failed for user "accord"; check the user and password',
    "database": 'database "no_such_db" does not exist; check the database name',
    "refused": "connection refused, nothing listens there; is the server running?",
    "timeout": "no answer within 3 s (timeout); check the host and port",
}
COMMANDS = {
    "search": lambda url: ["search", "Libya", "--db", url],
    "index": lambda url: ["index", str(SEEDS), "--db", url, "--model", FAKE_MODEL],
    "serve": lambda url: ["serve", "--port", str(free_port()), "--db", url],
}


def _one_line_error(result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "wrong-password" not in result.output + result.stderr
    return lines[0]


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("cause", sorted(SAID))
def test_each_cause_is_one_line_naming_it(cause, command, postgres_server, silent_port, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCORD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    url = _url(cause, postgres_server, silent_port)
    line = _one_line_error(CliRunner().invoke(app, COMMANDS[command](url)))
    assert line.startswith(f"accord: error: cannot connect to {connection.redact(url)}: "), line
    assert SAID[cause] in line


def test_no_wait_is_longer_than_the_connect_timeout():
    """A dead server is reported within a connect timeout: connections give up after
    CONNECT_TIMEOUT, and a search waits for its pool no longer before asking the server why."""
    assert connection.CONNECT_TIMEOUT <= 3 and generation.POOL_WAIT_SECONDS <= 3


def test_the_pool_is_configured_with_those_timeouts(pg_url):
    build([SEEDS], pg_url, encoder=HashingEncoder())
    connections = generation.PgConnections(pg_url, [])
    connections.hold()
    try:
        pool = connections._pool(pg_url)
        assert pool.timeout == generation.POOL_WAIT_SECONDS
        assert pool.kwargs["connect_timeout"] == connection.CONNECT_TIMEOUT
    finally:
        connections.let_go()


GONE = """
import sys
sys.path.insert(0, {root!r})
import psycopg
from index.errors import StoreUnavailable
from search.engine import Engine
from tests.conftest import HashingEncoder

with Engine.open({url!r}, encoder=HashingEncoder()) as engine:
    engine.search("Libya", k=1)
    with psycopg.connect({admin!r}, autocommit=True) as admin:
        admin.execute("DROP DATABASE {name} WITH (FORCE)")
    try:
        engine.search("Libya", k=1)
    except StoreUnavailable as err:
        print(err)
"""


def test_a_database_gone_while_searching_is_one_line_and_the_pool_stays_quiet(postgres_server, pg_url):
    """The pool's own retries (logged by psycopg_pool as warnings) are not printed; the search
    fails with the server's reason."""
    build([SEEDS], pg_url, encoder=HashingEncoder())
    name = pg_url.rsplit("/", 1)[1]
    script = GONE.format(root=str(ROOT), url=pg_url, admin=postgres_server.url(database="postgres"), name=name)
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f'database "{name}" does not exist' in done.stdout
    assert "error connecting" not in done.stderr and "psycopg" not in done.stderr, done.stderr


@pytest.fixture
def built_store(pg_url, tmp_path, monkeypatch) -> str:
    monkeypatch.setenv("ACCORD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["index", str(SEEDS), "--db", pg_url, "--model", FAKE_MODEL])
    assert result.exit_code == 0, result.output
    return pg_url


def test_the_read_only_role_writing_is_told_to_use_the_writer(pg_reader_url, built_store):
    runner = CliRunner()
    found = runner.invoke(app, ["search", "Libya", "--db", pg_reader_url])
    assert found.exit_code == 0, found.output
    saved = _one_line_error(runner.invoke(app, ["watchlist", "add", "libya", "Libya", "--db", pg_reader_url]))
    assert "permission denied for table searches (role test_reader): run as the writer role" in saved
    assert "GRANT INSERT, UPDATE, DELETE ON accord.searches, accord.members, accord.entries TO test_reader" in saved
    indexed = _one_line_error(runner.invoke(app, ["index", "--db", pg_reader_url]))
    assert "permission denied for table write_lock (role test_reader): run as the writer role" in indexed


def test_a_role_without_read_grants_is_told_what_to_grant(built_store, postgres_server):
    postgres_server.add_role("test_nobody", "nobodypw")
    database = built_store.rsplit("/", 1)[1]
    url = postgres_server.url(database=database, role="test_nobody", password="nobodypw")
    line = _one_line_error(CliRunner().invoke(app, ["search", "Libya", "--db", url]))
    assert "permission denied for schema accord (role test_nobody): GRANT USAGE ON SCHEMA accord TO test_nobody" in line
