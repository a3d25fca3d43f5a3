"""A real PostgreSQL for the tests: one server per session (LocalPostgres, on 127.0.0.1, run as
an unprivileged user when the tests run as root), a fresh database per test, and a read-only
role set up as `accord db` sets up its reader (LocalPostgres.add_role, grant_reading)."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterator

import pytest

from index.extras import install_command, missing
from index.storage.postgres.local_server import ROLE, LocalPostgres

_names = itertools.count()
READER = "test_reader"


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


@pytest.fixture(scope="session")
def _reader_password(postgres_server: LocalPostgres) -> str:
    password = secrets.token_urlsafe(12)
    postgres_server.add_role(READER, password)
    return password


@pytest.fixture
def pg_reader_url(postgres_server: LocalPostgres, pg_url: str, _reader_password: str) -> str:
    """The read-only role's URL for `pg_url`'s database: it may read what the writer (`accord`)
    creates there, as `accord db`'s reader does."""
    database = pg_url.rsplit("/", 1)[1]
    postgres_server.grant_reading(READER, database, ROLE)
    return postgres_server.url(database=database, role=READER, password=_reader_password)
