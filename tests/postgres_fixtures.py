"""A real PostgreSQL for the tests: one server per session (LocalPostgres, on 127.0.0.1, run as
an unprivileged user when the tests run as root), a fresh database per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from index.extras import install_command, missing
from index.storage.postgres.local_server import LocalPostgres

_names = itertools.count()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[LocalPostgres]:
    """The session's PostgreSQL server; stopped and deleted at the end. Skips the tests that use
    it where the 'postgres' extra is not installed."""
    absent = missing("local-postgres")
    if absent:
        pytest.skip(f"{', '.join(absent)} not installed: {install_command('local-postgres')}")
    server = LocalPostgres.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: LocalPostgres) -> Iterator[str]:
    """The URL of a new empty database, dropped after the test."""
    name = f"test_{next(_names)}"
    postgres_server.sql(f"CREATE DATABASE {name} OWNER accord")
    try:
        yield postgres_server.url(database=name)
    finally:
        postgres_server.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
