"""Saved searches and alerts on a PostgreSQL store (a real server, see tests/postgres_fixtures.py):
the same behaviour as beside an index folder (tests/test_watchlist.py), writers in turn, old stores
told to migrate, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from index.errors import IndexIncompatible, SavedSearchExists, SavedSearchNotFound
from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine
from search.views.watchlist import Watchlist, add_search, check_after_update, check_alerts
from tests.conftest import HashingEncoder, requires
from tests.test_watchlist import CUT, IRAQ, concurrent_checks_list_an_entry_once

pytestmark = requires("postgres")


@pytest.fixture
def store(pg_url: str, corpus_dir: Path) -> str:
    build([corpus_dir], pg_url, encoder=HashingEncoder())
    return pg_url


def open_engine(url: str) -> Engine:
    return Engine.open(url, encoder=HashingEncoder())


def test_add_list_remove_and_errors(store):
    with open_engine(store) as engine:
        _saved, found = add_search(engine, "coop", "military cooperation", filters=Filters(countries=("Russia",)), exec="cat")
        assert found.ids() == ["iran", "libya"]  # the default rule, as on a folder (test_watchlist)
        with pytest.raises(SavedSearchExists, match="'coop' exists"):
            add_search(engine, "coop", "wheat")
    listed = Watchlist(store).searches()
    assert [(s.name, s.query, s.filters.countries, s.exec) for s in listed] == [("coop", "military cooperation", ("Russia",), "cat")]
    password = store.split(":")[2].split("@")[0]
    with pytest.raises(SavedSearchNotFound, match=r"'nope' for postgresql://accord:\*\*\*@.*saved searches: coop") as raised:
        Watchlist(store).remove("nope")
    assert password not in str(raised.value)
    Watchlist(store).remove("coop")
    assert Watchlist(store).searches() == [] and not Watchlist(store).exists


def test_alerts_list_the_article_an_update_brings_once(store, corpus_dir):
    with open_engine(store) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
        add_search(engine, "wheat", "wheat harvest", cutoff=CUT)
        assert [a.matches for a in check_alerts(engine, cutoff=CUT)] == [(), ()]
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([corpus_dir], store, encoder=HashingEncoder())
    with open_engine(store) as engine:
        looked = check_alerts(engine, ["coop"], cutoff=CUT, acknowledge=False)[0]
        assert [m.id for m in looked.matches] == ["iraq"] and [m.id for m in looked.new] == ["iraq"]
        alerts = {a.search.name: a for a in check_alerts(engine, cutoff=CUT)}
        assert [m.id for m in alerts["coop"].matches] == ["iraq"] and alerts["wheat"].matches == ()
        assert check_alerts(engine, ["coop"], cutoff=CUT)[0].matches == ()
        again = check_alerts(engine, ["coop"], since="2000-01-01", cutoff=CUT)[0]
        assert [m.id for m in again.matches] == ["iraq"]


def test_concurrent_checks_list_an_entry_exactly_once(store, corpus_dir):
    concurrent_checks_list_an_entry_once(store, corpus_dir, 6)


def test_the_watcher_check_after_an_update_tells_the_command(store, corpus_dir, tmp_path):
    out = tmp_path / "told.json"
    with open_engine(store) as engine:
        add_search(engine, "coop", "military cooperation", exec=f"sh -c 'cat > {out}'", cutoff=CUT)
    assert check_after_update(store, encoder=HashingEncoder()) == []  # nothing new yet
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([], store, encoder=HashingEncoder())
    told = check_after_update(store, encoder=HashingEncoder())
    assert [(alert.search.name, [m.id for m in alert.new]) for alert, _ in told] == [("coop", ["iraq"])]
    assert '"iraq"' in out.read_text()


def test_a_store_of_the_first_schema_is_told_to_migrate_then_migrates(pg_url, corpus_dir):
    from index.storage.postgres.connection import connect

    build([corpus_dir], pg_url, encoder=HashingEncoder())
    with connect(pg_url) as conn:  # made a store written by an Accord before saved searches
        conn.execute("DROP TABLE accord.entries, accord.members, accord.searches, accord.write_lock, "
                     "accord.article_facts, accord.article_entities, accord.article_transfers")
        conn.execute("UPDATE accord.meta SET value = to_jsonb(1) WHERE key = 'schema_version'")
        conn.commit()
    with pytest.raises(IndexIncompatible, match="has schema 1; run 'accord index --db URL' once to migrate it"):
        Watchlist(pg_url).searches()
    build([], pg_url, encoder=HashingEncoder())  # an update migrates, keeping the articles
    with open_engine(pg_url) as engine:
        assert engine.stats().articles == 4
        add_search(engine, "coop", "military cooperation")
    assert [s.name for s in Watchlist(pg_url).searches()] == ["coop"]


def test_cli_watchlist_and_alerts_with_db(store, corpus_dir):
    from cli import app

    runner = CliRunner()
    added = runner.invoke(app, ["watchlist", "add", "coop", "military cooperation", "--db", store])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["watchlist", "list", "--db", store])
    assert listed.exit_code == 0 and listed.output.startswith("coop: 'military cooperation'")
    alerts = runner.invoke(app, ["alerts", "--db", store])
    assert alerts.exit_code == 0 and "coop: 0 new matches since the last check" in alerts.output
    removed = runner.invoke(app, ["watchlist", "remove", "coop", "--db", store])
    assert removed.exit_code == 0 and Watchlist(store).searches() == []
