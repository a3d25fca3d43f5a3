"""Defence facts in the index: extracted at build time from the cleaned text, kept right by
updates, filtered on (--system, --org, --person, --kind) in the Python API, the CLI and the HTTP
API, shown by `accord show`; the same on the PostgreSQL store.

Everything is real: indexes built from the seeds with the fake encoder, SQLite files, a real
PostgreSQL server for the store tests.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from index.errors import IndexIncompatible, InvalidParameter
from index.filters import Filters
from index.pipeline.builder import build
from index.storage.layout import DOCSTORE_FILE
from index.storage.manifest import read_manifest
from index.text.defence import article_text
from search.engine import Engine
from search.web.app import create_app
from tests.conftest import SEEDS, HashingEncoder, requires

LEBANON = "000_9cda39b006e06f4e"  # the military cooperation treaty
LEBANON_VISIT = "001_27c966cdbbb593df"
IRAQ = "002_86ad78fac0c1cc3d"
IRAN = "003_2b9cbe42a2e4ca54"
LIBYA = "004_8790f98fbe18f818"
FSVTS = "Federal Service for Military-Technical Cooperation"

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    print(result.output)  # shown when an assertion fails
    return result


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def seeds_index(tmp_path: Path, corpus: Path) -> Path:
    index_dir = tmp_path / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    return index_dir


def _ids(result) -> set[str]:
    return {hit.id for hit in result}


def _names(items) -> set[str]:
    return {item.name for item in items}


def _check_seed_facts(engine: Engine) -> None:
    facts = {article_id: engine.facts(article_id) for article_id in (LEBANON, LEBANON_VISIT, IRAQ, IRAN, LIBYA)}
    assert FSVTS in _names(facts[IRAQ].organisations) and FSVTS in _names(facts[LIBYA].organisations)
    assert "Rosoboronexport" in _names(facts[LIBYA].organisations)
    assert "Alexander Fomin" in _names(facts[LEBANON_VISIT].people) and "Alexander Fomin" in _names(facts[IRAQ].people)
    assert "Sergei Shoigu" in _names(facts[IRAN].people)
    assert "agreement" in facts[LEBANON].kinds
    assert [(t.supplier, t.recipient) for t in facts[LIBYA].transfers] == [("Russia", "Libya")]
    # The Iran seed names the S-300 only in a photo caption, which cleaning drops: the stored
    # facts come from the cleaned text, so no seed carries a weapon system.
    assert all(not f.systems for f in facts.values())
    for article_id, found in facts.items():
        article = engine.article(article_id)
        text = article_text(article.title, article.body)
        for item in (*found.organisations, *found.people):
            for span in item.mentions:
                assert text[span.start : span.end] == span.text  # spans point into what the store keeps


def _check_seed_filters(engine: Engine) -> None:
    for mode in ("hybrid", "keyword", "semantic"):
        def ids(**chosen) -> set[str]:
            return _ids(engine.search("cooperation", mode=mode, filters=Filters.parse(**chosen)))  # noqa: B023

        assert ids(organisations=["Rosoboronexport"]) == {LIBYA}
        assert ids(organisations=["FSVTS"]) == {IRAQ, LIBYA}
        assert ids(people=["Fomin"]) == {LEBANON_VISIT, IRAQ}
        assert ids(people=["sergei shoigu"]) == {IRAN}
        assert ids(kinds=["agreement"]) == {LEBANON, IRAQ, IRAN}
        assert ids(organisations=["FSVTS"], people=["Dzirkaln"]) == {LIBYA}  # all must match
        assert ids(organisations=["FSVTS"], countries=["Iraq"]) == {IRAQ}
        assert ids(systems=["S-300"]) == set()


def test_a_build_stores_each_articles_facts(seeds_index):
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        _check_seed_facts(engine)


def test_entity_filters_apply_in_every_mode(seeds_index):
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        _check_seed_filters(engine)


def test_filters_resolve_aliases_and_name_the_bad_one():
    parsed = Filters.parse(systems=["SA-21"], organisations=["rosoboronexport"], kinds=["Arms sale"], people=[" Fomin "])
    assert (parsed.systems, parsed.organisations, parsed.kinds, parsed.people) == (
        ("S-400",), ("Rosoboronexport",), ("arms_sale",), ("Fomin",))
    assert parsed.active and not parsed.without_entities().active
    for chosen, flag in (({"organisations": ["Acme Widgets"]}, "--org"), ({"systems": ["Spitfire 9000"]}, "--system"),
                         ({"kinds": ["friendship"]}, "--kind")):
        with pytest.raises(InvalidParameter) as err:
            Filters.parse(**chosen)
        assert err.value.worded(lambda name: "--" + name).startswith(flag)


def test_an_update_changes_and_removes_an_articles_facts(corpus, seeds_index):
    libya = corpus / f"{LIBYA}.txt"
    libya.write_text(libya.read_text().replace("Rosoboronexport", "the exporter"))
    (corpus / f"{IRAQ}.txt").unlink()
    report = build([], seeds_index, encoder=HashingEncoder())
    assert (report.updated, report.removed) == (1, 1)
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        assert "Rosoboronexport" not in _names(engine.facts(LIBYA).organisations)
        assert _ids(engine.search("cooperation", filters=Filters.parse(organisations=["Rosoboronexport"]))) == set()
        assert _ids(engine.search("cooperation", filters=Filters.parse(organisations=["FSVTS"]))) == {LIBYA}
    docstore = seeds_index / read_manifest(seeds_index).generation / DOCSTORE_FILE
    with sqlite3.connect(docstore) as db:
        for table in ("article_facts", "article_entities", "article_transfers"):
            assert db.execute(f"SELECT count(*) FROM {table} WHERE article_id = ?", (IRAQ,)).fetchone() == (0,)


def test_an_index_built_before_facts_gets_them_on_its_next_update(seeds_index):
    docstore = seeds_index / read_manifest(seeds_index).generation / DOCSTORE_FILE
    with sqlite3.connect(docstore) as db:  # as an index built before the facts were stored
        for table in ("article_facts", "article_entities", "article_transfers"):
            db.execute(f"DROP TABLE {table}")
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        assert engine.facts(LIBYA) is None
        with pytest.raises(IndexIncompatible, match="run 'accord index' once"):
            engine.search("cooperation", filters=Filters.parse(organisations=["Rosoboronexport"]))
    report = build([], seeds_index, encoder=HashingEncoder())
    assert report.embedded == 0 and report.updated == 0
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        _check_seed_facts(engine)


def test_cli_filters_and_show(seeds_index):
    index = str(seeds_index)
    found = run("search", "cooperation", "--org", "Rosoboronexport", "--index", index, "--json")
    assert found.exit_code == 0
    assert [json.loads(line)["id"] for line in found.stdout.splitlines()] == [LIBYA]
    both = run("search", "cooperation", "--person", "Fomin", "--kind", "visit_talks", "--index", index, "--json")
    assert {json.loads(line)["id"] for line in both.stdout.splitlines()} == {LEBANON_VISIT, IRAQ}
    timeline = run("timeline", "cooperation", "--org", "FSVTS", "--min-cosine", "0", "--index", index, "--json")
    assert timeline.exit_code == 0 and json.loads(timeline.stdout)["total"] == 2
    pairs = run("pairs", "cooperation", "--org", "Rosoboronexport", "--min-cosine", "0", "--index", index, "--json")
    assert pairs.exit_code == 0 and json.loads(pairs.stdout)["matches"] == 1
    bad = run("search", "cooperation", "--org", "Acme Widgets", "--index", index)
    assert bad.exit_code != 0 and "--org 'Acme Widgets' is not a defence organisation" in bad.output
    assert len(bad.output.strip().splitlines()) == 1

    shown = run("show", LIBYA, "--index", index)
    assert shown.exit_code == 0
    assert "organisation: Rosoboronexport (agency) at " in shown.stdout
    assert "person: Vyacheslav Dzirkaln, deputy director" in shown.stdout
    assert "kinds: arms_sale, visit_talks, sanctions" in shown.stdout
    assert "transfer: Russia -> Libya at " in shown.stdout
    as_json = json.loads(run("show", LIBYA, "--index", index, "--json").stdout)
    organisations = {o["name"]: o for o in as_json["defence"]["organisations"]}
    span = organisations["Rosoboronexport"]["mentions"][0]
    assert article_text(as_json["title"], as_json["body"])[span["start"] : span["end"]] == "Rosoboronexport"


def test_http_api_filters(seeds_index):
    client = TestClient(create_app(seeds_index, encoder=HashingEncoder()), base_url="http://127.0.0.1:8765")
    body = client.get("/api/search", params={"q": "cooperation", "org": "Rosoboronexport"}).json()
    assert [hit["id"] for hit in body["hits"]] == [LIBYA]
    body = client.get("/api/search", params=[("q", "cooperation"), ("person", "Fomin"), ("kind", "agreement")]).json()
    assert [hit["id"] for hit in body["hits"]] == [IRAQ]
    bad = client.get("/api/search", params={"q": "cooperation", "system": "Spitfire 9000"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("system 'Spitfire 9000' is not a weapon system")


@requires("postgres")
def test_postgres_store_keeps_and_filters_facts(corpus, pg_url):
    build([corpus], pg_url, encoder=HashingEncoder())
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        _check_seed_facts(engine)
        _check_seed_filters(engine)
    libya = corpus / f"{LIBYA}.txt"
    libya.write_text(libya.read_text().replace("Rosoboronexport", "the exporter"))
    (corpus / f"{IRAQ}.txt").unlink()
    build([], pg_url, encoder=HashingEncoder())
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        assert "Rosoboronexport" not in _names(engine.facts(LIBYA).organisations)
        assert _ids(engine.search("cooperation", filters=Filters.parse(organisations=["Rosoboronexport"]))) == set()
        assert _ids(engine.search("cooperation", filters=Filters.parse(organisations=["FSVTS"]))) == {LIBYA}
    from index.storage.postgres.connection import connect

    with connect(pg_url) as conn:
        for table in ("article_facts", "article_entities", "article_transfers"):
            assert conn.execute(f"SELECT count(*) FROM accord.{table} WHERE article_id = %s", (IRAQ,)).fetchone() == (0,)


@requires("postgres")
def test_postgres_store_of_schema_3_migrates_and_gets_its_facts(corpus, pg_url):
    build([corpus], pg_url, encoder=HashingEncoder())
    from index.storage.postgres.connection import connect

    with connect(pg_url) as conn, conn.transaction():  # as a store written before schema 4
        for table in ("article_facts", "article_entities", "article_transfers"):
            conn.execute(f"DROP TABLE accord.{table}")
        # The saved searches' tables as schema 2 made them (owners came in 5, names per owner in 6).
        from index.storage.postgres.schema import MIGRATIONS

        conn.execute("DROP TABLE accord.entries, accord.members, accord.searches")
        for statement in dict(MIGRATIONS)[2]:
            conn.execute(statement)
        conn.execute("UPDATE accord.meta SET value = to_jsonb(3) WHERE key = 'schema_version'")
    with pytest.raises(IndexIncompatible, match="run 'accord index --db URL' once"):
        Engine.open(pg_url, encoder=HashingEncoder()).stats()
    report = build([], pg_url, encoder=HashingEncoder())
    assert report.embedded == 0 and report.updated == 0
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        _check_seed_facts(engine)


def test_pairs_carry_direction_and_kinds_from_the_stored_facts(seeds_index):
    from search.views.matches import CutOff
    from search.views.pairs import Direction, pairs

    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        result = pairs(engine, "military cooperation", cutoff=CutOff(min_cosine=0.0, top=100, min_coverage=None))
    table = {p.countries: p for p in result.pairs}
    assert table[("Libya", "Russia")].directions == (Direction("Russia", "Libya", 1, ()),)
    assert dict(table[("Libya", "Russia")].kinds) == {"arms_sale": 1, "visit_talks": 1, "sanctions": 1}
    assert table[("Iraq", "Russia")].directions == ()
    assert table[("Lebanon", "Russia")].kinds[0] == ("training", 2)  # most articles first

    shown = run("pairs", "military cooperation", "--min-cosine", "0", "--index", str(seeds_index))
    assert "    Russia -> Libya: 1 article\n" in shown.stdout
    assert "    kinds: arms_sale 1, sanctions 1, visit_talks 1\n" in shown.stdout
