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
from index.errors import IndexIncompatible, InvalidArgument, SavedSearchNotFound, SavedSearchNotOwned
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


def _refs(url: str, token: str) -> list[tuple[str, str, bool]]:
    listed = httpx.get(f"{url}/api/watchlist", headers=_as(token)).json()
    return [(saved["ref"], saved["owner"], saved["shared"]) for saved in listed["searches"]]


def test_two_users_may_each_have_a_search_of_the_same_name(team: Running) -> None:
    assert _save(team.url, ALICE, "libya").status_code == 201
    assert _save(team.url, BOB, "libya", shared=True).status_code == 201
    assert_error(_save(team.url, BOB, "libya"), 409, "libya")  # but not two of their own
    listed = httpx.get(f"{team.url}/api/watchlist", headers=_as(ALICE)).json()
    assert listed["user"] == "alice"
    assert [(saved["name"], saved["ref"]) for saved in listed["searches"]] == [("libya", "alice/libya"), ("libya", "bob/libya")]
    assert _refs(team.url, BOB) == [("bob/libya", "bob", True)]

    # A plain name is the user's own; OWNER/NAME names another's (in a path too, its / encoded or not).
    alerts = httpx.get(f"{team.url}/api/alerts", params={"name": ["libya", "bob/libya"]}, headers=_as(ALICE)).json()
    assert [(a["search"]["owner"], a["search"]["name"]) for a in alerts["alerts"]] == [("alice", "libya"), ("bob", "libya")]
    assert httpx.post(f"{team.url}/api/alerts/bob%2Flibya/seen", headers=_as(ALICE)).status_code == 200
    assert_error(httpx.delete(f"{team.url}/api/watchlist/bob/libya", headers=_as(ALICE)), 403, "bob/libya", "only they")

    # The CLI sees both, as OWNER/NAME; a plain name that both have is refused, naming them.
    runner = CliRunner()
    listed_cli = runner.invoke(cli_app, ["watchlist", "list", "--index", str(team.index_dir)])
    assert listed_cli.exit_code == 0 and [line.split(":")[0] for line in listed_cli.output.splitlines()] == ["alice/libya", "bob/libya"]
    ambiguous = runner.invoke(cli_app, ["alerts", "libya", "--index", str(team.index_dir)])
    shown = [line for line in ambiguous.output.splitlines() if line.strip()]
    assert ambiguous.exit_code != 0 and len(shown) == 1 and "alice/libya, bob/libya" in shown[0] and "OWNER/NAME" in shown[0]
    removed = runner.invoke(cli_app, ["watchlist", "remove", "alice/libya", "--index", str(team.index_dir)])
    assert removed.exit_code == 0 and "alice/libya" in removed.output
    assert _refs(team.url, ALICE) == [("bob/libya", "bob", True)]
    # With only one left of that name, the plain name finds it; bob's own plain name is his.
    assert Watchlist(team.index_dir).get("libya").owner == "bob"
    assert httpx.delete(f"{team.url}/api/watchlist/libya", headers=_as(BOB)).status_code == 204
    assert _refs(team.url, BOB) == []


def test_a_name_with_a_slash_is_refused(team: Running) -> None:
    assert_error(_save(team.url, ALICE, "alice/libya"), 400, "'/'")


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
        # The tables as they were before owners (names one namespace, the key).
        db.execute("CREATE TABLE searches (name TEXT PRIMARY KEY, query TEXT NOT NULL, filters TEXT NOT NULL, "
                   "exec TEXT, created TEXT NOT NULL, checked TEXT)")
        db.execute("CREATE TABLE members (name TEXT NOT NULL REFERENCES searches(name) ON DELETE CASCADE, "
                   "article_id TEXT NOT NULL, PRIMARY KEY (name, article_id))")
        db.execute("CREATE TABLE entries (name TEXT NOT NULL REFERENCES searches(name) ON DELETE CASCADE, "
                   "article_id TEXT NOT NULL, entered TEXT NOT NULL)")
        db.execute("CREATE INDEX entries_by_time ON entries (name, entered)")
        db.execute("INSERT INTO searches VALUES ('old', 'navy', ?, NULL, '2026-01-01', '2026-01-01')",
                   ('{"countries": [], "sources": [], "since": null, "until": null}',))
        db.executemany("INSERT INTO members VALUES ('old', ?)", [("a",), ("b",)])
        db.execute("INSERT INTO entries VALUES ('old', 'b', '2026-01-02')")
    watchlist = Watchlist(index_dir)
    assert [(s.name, s.owner, s.shared) for s in watchlist.searches()] == [("old", "", False)]
    watchlist.add("new", "arms", Filters(), None, [], owner="alice", shared=True)
    assert [(s.name, s.owner, s.shared) for s in watchlist.searches("bob")] == [("new", "alice", True)]
    assert [s.ref for s in watchlist.searches()] == ["alice/new", "old"]
    # The old search kept its members and entries, now keyed by owner and name.
    assert watchlist.entered_since("old", "2026") == ["b"]
    checked, entered, unseen = watchlist.record("old", ["a", "b", "c"], acknowledge=False)
    assert entered == ["c"] and sorted(unseen) == ["b", "c"]
    watchlist.add("old", "arms", Filters(), None, ["x"], owner="alice")  # names are per owner now
    watchlist.remove("old")  # the CLI's own 'old'; its members and entries go with it (cascade)
    assert [s.ref for s in watchlist.searches()] == ["alice/new", "alice/old"]
    with sqlite3.connect(index_dir / WATCHLIST_FILE) as db:
        assert db.execute("SELECT owner, name, article_id FROM members").fetchall() == [("alice", "old", "x")]
        assert db.execute("SELECT count(*) FROM entries").fetchone() == (0,)


@requires("postgres")
def test_a_postgres_store_keeps_owners_and_migrates_from_version_4(pg_url: str) -> None:
    import psycopg

    from index.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION, migrate, stored_version

    build([SEEDS], pg_url, encoder=HashingEncoder())
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        # Back to version 4, as a store saved before owners: schema 2's saved-search tables.
        conn.execute("DROP TABLE accord.entries, accord.members, accord.searches")
        for statement in dict(MIGRATIONS)[2]:
            conn.execute(statement)
        conn.execute("INSERT INTO accord.searches VALUES ('old', 'navy', %s, NULL, '2026-01-01', '2026-01-01')",
                     ('{"countries": [], "sources": [], "since": null, "until": null}',))
        conn.execute("INSERT INTO accord.members VALUES ('old', 'a'), ('old', 'b')")
        conn.execute("INSERT INTO accord.entries VALUES ('old', 'b', '2026-01-02')")
        conn.execute("UPDATE accord.meta SET value = to_jsonb(4) WHERE key = 'schema_version'")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn) == 4 and stored_version(conn) == SCHEMA_VERSION == 6
    watchlist = Watchlist(pg_url)
    assert watchlist.entered_since("old", "2026") == ["b"]  # its members and entries came along
    watchlist.add("alice-own", "navy", Filters(), None, [], owner="alice")
    watchlist.add("team", "arms", Filters(), None, [], owner="bob", shared=True)
    assert [s.name for s in watchlist.searches("alice")] == ["alice-own", "team"]
    assert [s.name for s in watchlist.searches("carol")] == ["team"]
    with pytest.raises(SavedSearchNotOwned):
        watchlist.remove("team", "alice")
    with pytest.raises(SavedSearchNotFound):
        watchlist.remove("alice-own", "bob")
    watchlist.remove("team", "bob")
    watchlist.remove("old")
    assert [(s.name, s.owner) for s in watchlist.searches()] == [("alice-own", "alice")]


@requires("postgres")
def test_a_postgres_store_of_schema_5_gets_names_per_owner(pg_url: str) -> None:
    """A store migrated to 5 (owners, names still one namespace) moves to 6 with its searches'
    members and entries kept under their owners."""
    import psycopg

    from index.storage.postgres.schema import MIGRATIONS, SCHEMA_VERSION, migrate

    build([SEEDS], pg_url, encoder=HashingEncoder())
    with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
        conn.execute("DROP TABLE accord.entries, accord.members, accord.searches")
        for version in (2, 5):
            for statement in dict(MIGRATIONS)[version]:
                conn.execute(statement)
        conn.execute("INSERT INTO accord.searches VALUES ('libya', 'navy', %s, NULL, '2026-01-01', '2026-01-01', "
                     "'alice', true)", ('{"countries": [], "sources": [], "since": null, "until": null}',))
        conn.execute("INSERT INTO accord.members VALUES ('libya', 'a')")
        conn.execute("INSERT INTO accord.entries VALUES ('libya', 'a', '2026-01-02')")
        conn.execute("UPDATE accord.meta SET value = to_jsonb(5) WHERE key = 'schema_version'")
    with pytest.raises(IndexIncompatible, match="has schema 5; run 'accord index --db URL' once"):
        Watchlist(pg_url).searches()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert migrate(conn) == 5 and SCHEMA_VERSION == 6
        assert conn.execute("SELECT owner, name, article_id FROM accord.members").fetchall() == [("alice", "libya", "a")]
    watchlist = Watchlist(pg_url)
    assert watchlist.entered_since("libya", "2026", owner="alice") == ["a"]
    watchlist.add("libya", "arms", Filters(), None, [], owner="bob")
    assert [s.ref for s in watchlist.searches()] == ["alice/libya", "bob/libya"]
