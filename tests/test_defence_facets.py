"""Defence-fact facets: a search with facets counts its candidates by weapon system,
organisation, person and kind of cooperation from the facts stored at index time, in the Python
API, `accord search --facets` (table and JSON) and `/api/search?facets=true`; the same on the
PostgreSQL store.

Everything is real: indexes built from the seeds with the fake encoder, SQLite files, a real
PostgreSQL server for the store test.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine
from search.web.app import create_app
from tests import test_defence_index as defence_index_tests
from tests.conftest import HashingEncoder, requires

FSVTS = "Federal Service for Military-Technical Cooperation"
QUERY = "military-technical cooperation"

runner = CliRunner()

# The index tests' fixtures: a copy of the seeds, and an index of it.
corpus = defence_index_tests.corpus
seeds_index = defence_index_tests.seeds_index


def _check_seed_facets(engine: Engine) -> None:
    facets = engine.search(QUERY, mode="keyword", facets=True).facets
    assert facets is not None and facets.total == 5
    organisations = dict(facets.organisations)
    assert organisations[FSVTS] == 2 and organisations["Rosoboronexport"] == 1
    assert dict(facets.people)["Alexander Fomin"] == 2
    assert dict(facets.kinds)["agreement"] == 3
    # No seed names a weapon system in its cleaned text (see test_defence_index).
    assert facets.systems == []
    # Most frequent first, then by name.
    counts = [(-count, name) for name, count in facets.organisations]
    assert counts == sorted(counts)
    # The counts follow the filters: only the Libya article names Rosoboronexport.
    narrowed = engine.search(QUERY, mode="keyword", facets=True,
                             filters=Filters.parse(organisations=["Rosoboronexport"])).facets
    assert narrowed is not None and narrowed.total == 1
    assert dict(narrowed.organisations) == {"Rosoboronexport": 1, FSVTS: 1}


def test_engine_counts_candidates_by_defence_facts(seeds_index):
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        _check_seed_facets(engine)


def test_cli_facets_show_defence_facts(seeds_index):
    index = str(seeds_index)
    table = runner.invoke(app, ["search", QUERY, "--mode", "keyword", "--facets", "--index", index])
    print(table.output)
    assert table.exit_code == 0
    orgs = next(line for line in table.stdout.splitlines() if line.strip().startswith("orgs:"))
    assert f"{FSVTS} 2" in orgs and "Rosoboronexport 1" in orgs
    assert any(line.strip() == "systems: —" for line in table.stdout.splitlines())
    people = next(line for line in table.stdout.splitlines() if line.strip().startswith("people:"))
    assert "Alexander Fomin 2" in people
    as_json = runner.invoke(app, ["search", QUERY, "--mode", "keyword", "--facets", "--index", index, "--json"])
    assert as_json.exit_code == 0
    facets = next(json.loads(line)["facets"] for line in as_json.stdout.splitlines() if '"facets"' in line)
    assert [FSVTS, 2] in facets["organisations"] and ["agreement", 3] in facets["kinds"]
    assert facets["systems"] == []


def test_http_api_facets_show_defence_facts(seeds_index):
    client = TestClient(create_app(seeds_index, encoder=HashingEncoder()), base_url="http://127.0.0.1:8765")
    body = client.get("/api/search", params={"q": QUERY, "mode": "keyword", "facets": "true"}).json()
    facets = body["facets"]
    assert [FSVTS, 2] in facets["organisations"] and ["Alexander Fomin", 2] in facets["people"]
    assert ["agreement", 3] in facets["kinds"] and facets["systems"] == []
    narrowed = client.get("/api/search", params={"q": QUERY, "org": "Rosoboronexport", "facets": "true"}).json()
    assert narrowed["facets"]["total"] == 1
    schema = client.get("/openapi.json").json()["components"]["schemas"]["FacetsModel"]
    assert {"systems", "organisations", "people", "kinds"} <= set(schema["required"])
    assert "org" in schema["properties"]["organisations"]["description"]


@requires("postgres")
def test_postgres_store_counts_defence_facts(corpus, pg_url):
    build([corpus], pg_url, encoder=HashingEncoder())
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        _check_seed_facets(engine)
