"""The PostgreSQL store's schema: created, versioned and checked; URLs never show passwords."""

from __future__ import annotations

import pytest

from index.errors import IndexIncompatible, IndexNotFound, InvalidArgument, StoreUnavailable
from index.storage.postgres.connection import connect, database_url, is_database_url, redact
from index.storage.postgres.local_server import free_port
from index.storage.postgres.schema import SCHEMA_VERSION, check_version, migrate, stored_version
from tests.conftest import requires

pytestmark = requires("postgres")


def test_migrate_creates_the_tables_once(pg_url):
    with connect(pg_url) as conn:
        assert stored_version(conn) is None
        with pytest.raises(IndexNotFound, match="accord index PATH --db URL"):
            check_version(conn, "db")
        assert migrate(conn) == 0
        assert migrate(conn) == SCHEMA_VERSION  # idempotent: nothing to do the second time
        check_version(conn, "db")
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'accord'")}
        assert {"meta", "articles", "passages", "files", "kw_postings"} <= tables


def test_a_newer_schema_is_refused(pg_url):
    with connect(pg_url) as conn:
        migrate(conn)
        conn.execute("UPDATE accord.meta SET value = to_jsonb(%s::int) WHERE key = 'schema_version'", (SCHEMA_VERSION + 1,))
        conn.commit()
        with pytest.raises(IndexIncompatible, match="newer Accord"):
            check_version(conn, "db")
        with pytest.raises(IndexIncompatible, match="newer Accord"):
            migrate(conn)


def test_redact_hides_passwords():
    assert redact("postgresql://alice:s3cr:et@db.example:5432/news") == "postgresql://alice:***@db.example:5432/news"
    assert redact("postgresql://db/news?password=hunter2&sslmode=require") == "postgresql://db/news?password=***&sslmode=require"
    assert redact("postgresql://alice@db/news") == "postgresql://alice@db/news"


def test_database_url_from_option_or_environment(monkeypatch):
    monkeypatch.delenv("ACCORD_DATABASE_URL", raising=False)
    assert database_url(None) is None
    monkeypatch.setenv("ACCORD_DATABASE_URL", "postgresql://a@h/d")
    assert database_url(None) == "postgresql://a@h/d"
    assert database_url("postgres://b@h/d") == "postgres://b@h/d"
    with pytest.raises(InvalidArgument, match="--db 'mysql://u:\\*\\*\\*@h/d' is not a database URL"):
        database_url("mysql://u:pw@h/d")
    assert is_database_url("postgresql://x") and not is_database_url("/tmp/index") and not is_database_url(None)


def test_an_unreachable_server_is_one_line_without_the_password():
    url = f"postgresql://accord:topsecret@127.0.0.1:{free_port()}/accord"
    with pytest.raises(StoreUnavailable) as caught:
        connect(url, timeout=2)
    assert "topsecret" not in str(caught.value) and "***" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_wrong_password_is_refused_without_echoing_it(postgres_server):
    url = postgres_server.url(password="not-the-password")
    with pytest.raises(StoreUnavailable) as caught:
        connect(url)
    assert "not-the-password" not in str(caught.value)
