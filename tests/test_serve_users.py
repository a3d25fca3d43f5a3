"""A team on one server (`accord serve --tokens-file`): named tokens, saved searches owned per
user and shared ones, the audit line of every write, the tokens file's errors, and the
migration of watchlists saved before owners (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app as cli_app
from index.errors import InvalidArgument, SavedSearchNotFound, SavedSearchNotOwned
from index.filters import Filters
from index.pipeline.builder import build
from index.storage.watchlist import WATCHLIST_FILE
from search.views.watchlist import Watchlist
from search.web.app import create_app
from search.web.security import load_tokens
from tests.conftest import SEEDS, HashingEncoder, requires
from tests.test_serve_api import LOCAL, assert_error
from tests.test_serve_watchlist import QUERY, Running, run_server

ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdefgh"
TOKENS = {ALICE: "alice", BOB: "bob"}


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path, token=TOKENS)  # type: ignore[arg-type]


def _names(url: str, token: str) -> list[str]:
    listed = httpx.get(f"{url}/api/watchlist", headers=_as(token))
    assert listed.status_code == 200, listed.text
    return [saved["name"] for saved in listed.json()["searches"]]


def _save(url: str, token: str, name: str, shared: bool = False) -> httpx.Response:
    return httpx.post(f"{url}/api/watchlist", headers=_as(token), json={"name": name, "query": QUERY, "shared": shared})


def test_each_user_sees_their_own_searches_and_shared_ones_and_removes_only_their_own(team: Running) -> None:
    assert _save(team.url, ALICE, "alice-own").status_code == 201
    saved = _save(team.url, BOB, "bob-own")
    assert saved.status_code == 201 and saved.json()["owner"] == "bob" and saved.json()["shared"] is False
    assert _save(team.url, BOB, "team", shared=True).json()["shared"] is True
    assert _names(team.url, ALICE) == ["alice-own", "team"]
    assert _names(team.url, BOB) == ["bob-own", "team"]
    # Another user's unshared search does not exist for them; a shared one is not theirs to remove.
    assert_error(httpx.delete(f"{team.url}/api/watchlist/bob-own", headers=_as(ALICE)), 404, "bob-own")
    assert_error(httpx.get(f"{team.url}/api/alerts", params={"name": "bob-own"}, headers=_as(ALICE)), 404, "bob-own")
    assert_error(httpx.delete(f"{team.url}/api/watchlist/team", headers=_as(ALICE)), 403, "bob", "team")
    alerts = httpx.get(f"{team.url}/api/alerts", headers=_as(ALICE)).json()["alerts"]
    assert sorted(alert["search"]["name"] for alert in alerts) == ["alice-own", "team"]
    assert httpx.delete(f"{team.url}/api/watchlist/team", headers=_as(BOB)).status_code == 204
    assert _names(team.url, ALICE) == ["alice-own"]
    # The CLI is the index's owner: it sees every search, with its owner.
    owners = {saved.name: saved.owner for saved in Watchlist(team.index_dir).searches()}
    assert owners == {"alice-own": "alice", "bob-own": "bob"}


def test_every_write_through_the_api_has_an_audit_line_naming_its_user(tmp_path: Path) -> None:
    build([SEEDS], tmp_path / "ix", encoder=HashingEncoder())
    lines: list[str] = []
    client = TestClient(create_app(tmp_path / "ix", encoder=HashingEncoder(), token=TOKENS, access_log=lines.append),
                        base_url=LOCAL)
    assert client.post("/api/watchlist", headers=_as(ALICE), json={"name": "deals", "query": QUERY}).status_code == 201
    assert client.post("/api/alerts/deals/seen", headers=_as(ALICE)).status_code == 200
    assert client.delete("/api/watchlist/deals", headers=_as(BOB)).status_code == 404
    assert client.delete("/api/watchlist/deals", headers=_as(ALICE)).status_code == 204
    assert client.get("/api/watchlist", headers=_as(BOB)).status_code == 200
    audit = [line for line in lines if line.startswith("audit: ")]
    assert audit == [
        "audit: alice POST /api/watchlist 201",
        "audit: alice POST /api/alerts/deals/seen 200",
        "audit: bob DELETE /api/watchlist/deals 404",
        "audit: alice DELETE /api/watchlist/deals 204",
    ]
    assert ' bob "GET /api/watchlist" 200 ' in lines[-1]  # the access log names the user too


@pytest.mark.parametrize(("text", "words"), [
    ("alice alice-token-0123456789abcdef\nbob\n", "line 2: expected 'NAME TOKEN'"),
    ("# the team\nalice:short\n", "line 2: the token of 'alice'"),
    ("alice alice-token-0123456789abcdef\nalice other-token-0123456789abcdef\n", "line 2: 'alice' is named twice"),
    ("alice alice-token-0123456789abcdef\nbob:alice-token-0123456789abcdef\n", "line 2: 'bob' has the token of 'alice'"),
    ("# nobody yet\n\n", "names no user"),
])
def test_a_bad_tokens_file_is_one_line_naming_the_file_and_the_line(tmp_path: Path, text: str, words: str) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(text)
    with pytest.raises(InvalidArgument) as raised:
        load_tokens(tokens)
    message = str(raised.value)
    assert f"--tokens-file {tokens}" in message and words in message and "\n" not in message


def test_the_cli_reports_a_bad_tokens_file_in_one_line(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("carol\n")
    result = CliRunner().invoke(cli_app, ["serve", "--index", str(tmp_path / "ix"), "--tokens-file", str(tokens)])
    assert result.exit_code != 0
    shown = [line for line in result.output.splitlines() if line.strip()]
    assert len(shown) == 1 and "line 1" in shown[0] and str(tokens) in shown[0], result.output


def test_a_tokens_file_takes_both_separators_and_comments(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# the team\nalice {ALICE}\n\nbob:{BOB}\n")
    assert load_tokens(tokens) == TOKENS


def test_a_watchlist_saved_before_owners_is_read_and_then_migrated(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    index_dir.mkdir()
    with sqlite3.connect(index_dir / WATCHLIST_FILE) as db:
        # The searches table as it was before owners.
        db.execute("CREATE TABLE searches (name TEXT PRIMARY KEY, query TEXT NOT NULL, filters TEXT NOT NULL, "
                   "exec TEXT, created TEXT NOT NULL, checked TEXT)")
        db.execute("INSERT INTO searches VALUES ('old', 'navy', ?, NULL, '2026-01-01', NULL)",
                   ('{"countries": [], "sources": [], "since": null, "until": null}',))
    watchlist = Watchlist(index_dir)
    assert [(s.name, s.owner, s.shared) for s in watchlist.searches()] == [("old", "", False)]
    watchlist.add("new", "arms", Filters(), None, [], owner="alice", shared=True)
    assert [(s.name, s.owner, s.shared) for s in watchlist.searches("bob")] == [("new", "alice", True)]
    assert [s.name for s in watchlist.searches()] == ["new", "old"]


@requires("postgres")
def test_a_postgres_store_keeps_owners_and_migrates_from_version_4(pg_url: str) -> None:
    import psycopg

    from index.storage.postgres.schema import SCHEMA_VERSION, migrate, stored_version

    build([SEEDS], pg_url, encoder=HashingEncoder())
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # Back to version 4, as a store saved before owners.
        conn.execute("ALTER TABLE accord.searches DROP COLUMN owner, DROP COLUMN shared")
        conn.execute("UPDATE accord.meta SET value = to_jsonb(4) WHERE key = 'schema_version'")
        assert migrate(conn) == 4 and stored_version(conn) == SCHEMA_VERSION == 5
    watchlist = Watchlist(pg_url)
    watchlist.add("alice-own", "navy", Filters(), None, [], owner="alice")
    watchlist.add("team", "arms", Filters(), None, [], owner="bob", shared=True)
    assert [s.name for s in watchlist.searches("alice")] == ["alice-own", "team"]
    assert [s.name for s in watchlist.searches("carol")] == ["team"]
    with pytest.raises(SavedSearchNotOwned):
        watchlist.remove("team", "alice")
    with pytest.raises(SavedSearchNotFound):
        watchlist.remove("alice-own", "bob")
    watchlist.remove("team", "bob")
    assert [(s.name, s.owner) for s in watchlist.searches()] == [("alice-own", "alice")]
