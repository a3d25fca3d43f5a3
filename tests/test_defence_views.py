"""The defence facts in the analyst views: the timeline split by kind of cooperation (Python API,
`accord timeline --split kind`, `/api/timeline?split=kind`), and the entity filters (system, org,
person, kind) taken by every view the page calls: timeline, pairs, similar, months and saved
searches, as search takes them.

Everything is real: an index built from the seeds with the fake encoder, SQLite files, the
FastAPI app through its test client.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from cli import app
from index.errors import InvalidArgument
from index.filters import Filters
from search.engine import Engine
from search.views.matches import CutOff
from search.views.timeline import NO_KIND, timeline
from search.web.app import create_app
from tests import test_defence_index as defence_index_tests
from tests.conftest import HashingEncoder

QUERY = "military cooperation"
EVERY_SEED = CutOff(min_cosine=0.0, top=100, min_coverage=None)  # all five seeds count, whatever the fake encoder's cosines

runner = CliRunner()
corpus = defence_index_tests.corpus
seeds_index = defence_index_tests.seeds_index


def _expected_kind_counts(engine: Engine, ids: list[str]) -> Counter[str]:
    """Each kind's matches, read from every match's stored facts one by one."""
    counts: Counter[str] = Counter()
    for article_id in ids:
        facts = engine.facts(article_id)
        for kind in (facts.kinds if facts is not None and facts.kinds else (NO_KIND,)):
            counts[kind] += 1
    return counts


def test_timeline_splits_by_kind(seeds_index):
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        plain = timeline(engine, QUERY, cutoff=EVERY_SEED)
        split = timeline(engine, QUERY, cutoff=EVERY_SEED, split="kind")
        ids = [i for p in split.periods for i in p.ids] + list(split.undated)
        expected = _expected_kind_counts(engine, ids)
    assert plain.kinds == () and plain.split is None
    assert split.total == 5 and split.periods == plain.periods  # the split adds rows, it changes no count
    assert {row.kind: row.total for row in split.kinds} == dict(expected)
    assert expected["agreement"] >= 2 and expected["visit_talks"] >= 2
    for row in split.kinds:
        assert len(row.counts) == len(split.periods) and sum(row.counts) + row.undated == row.total
        # a period's row counts never exceed its matches
        assert all(count <= period.count for count, period in zip(row.counts, split.periods))
    order = [row.kind for row in split.kinds]
    assert order == sorted(order, key=lambda k: ("arms_sale", "agreement", "exercise", "training", "coproduction",
                                                 "military_aid", "visit_talks", "sanctions", NO_KIND).index(k))
    with pytest.raises(InvalidArgument, match="--split 'system'"):
        timeline(engine, QUERY, split="system")


def test_cli_timeline_split_by_kind(seeds_index):
    index = str(seeds_index)
    args = ["timeline", QUERY, "--min-cosine", "0", "--index", index, "--split", "kind"]
    shown = runner.invoke(app, args)
    print(shown.output)
    assert shown.exit_code == 0 and "by kind of cooperation" in shown.stdout
    data = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert data["split"] == "kind" and {row["kind"] for row in data["kinds"]} >= {"agreement", "visit_talks"}
    rows = list(csv.reader(io.StringIO(runner.invoke(app, [*args, "--format", "csv"]).stdout)))
    assert rows[0][:2] == ["period", "count"] and rows[0][2:] == [row["kind"] for row in data["kinds"]]
    bad = runner.invoke(app, ["timeline", QUERY, "--index", index, "--split", "month"])
    assert bad.exit_code != 0 and "--split 'month'" in bad.output


def test_http_timeline_split_by_kind_and_entity_filters(seeds_index):
    client = TestClient(create_app(seeds_index, encoder=HashingEncoder()), base_url="http://127.0.0.1:8765")
    split = client.get("/api/timeline", params={"q": QUERY, "split": "kind", "top": 100}).json()
    assert split["split"] == "kind" and split["kinds"]
    assert sum(row["total"] for row in split["kinds"] if row["kind"] == "agreement") >= 2
    assert client.get("/api/timeline", params={"q": QUERY, "split": "country"}).status_code == 422

    # Only the Libya seed names Rosoboronexport: each view counts it alone.
    org = {"q": QUERY, "org": "Rosoboronexport", "top": 100}
    everything = client.get("/api/timeline", params={"q": QUERY, "top": 100}).json()
    narrowed = client.get("/api/timeline", params=org).json()
    assert everything["total"] > 1 and narrowed["total"] == 1
    libya = ([i for p in narrowed["periods"] for i in p["ids"]] + narrowed["undated"])[0]
    pairs = client.get("/api/pairs", params=org).json()
    assert pairs["pairs"] and all(p["example"]["id"] == libya for p in pairs["pairs"])
    assert client.get("/api/months", params={"q": QUERY, "org": "Rosoboronexport"}).json()["total"] == 1
    by_kind = client.get("/api/timeline", params={"q": QUERY, "kind": "training", "top": 100}).json()
    assert 1 <= by_kind["total"] < everything["total"]
    bad = client.get("/api/timeline", params={"q": QUERY, "kind": "picnic"})
    assert bad.status_code == 400 and "picnic" in bad.json()["error"]

    # More like the Iraq seed (it names the Federal Service too), among articles naming Rosoboronexport.
    iraq = next(i for p in everything["periods"] for i in p["ids"] if "002_" in i)
    similar = client.get(f"/api/similar/{iraq}", params={"org": "Rosoboronexport"}).json()
    assert [hit["id"] for hit in similar["hits"]] == [libya]
    assert len(client.get(f"/api/similar/{iraq}").json()["hits"]) > 1


def test_saved_searches_keep_entity_filters(seeds_index):
    client = TestClient(create_app(seeds_index, encoder=HashingEncoder()), base_url="http://127.0.0.1:8765")
    saved = client.post("/api/watchlist", json={"name": "rosoboronexport", "query": QUERY, "org": ["Rosoboronexport"],
                                                "kind": ["arms_sale"]})
    assert saved.status_code == 201, saved.text
    body = saved.json()
    assert body["filters"]["organisations"] == ["Rosoboronexport"] and body["filters"]["kinds"] == ["arms_sale"]
    assert body["matching"] <= 1  # the Libya seed at most, not the five the query alone matches
    listed = client.get("/api/watchlist").json()["searches"]
    assert listed[0]["filters"]["organisations"] == ["Rosoboronexport"]
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        from search.views.watchlist import Watchlist

        stored = Watchlist(engine.store).searches()[0]
    assert stored.filters == Filters.parse(organisations=["Rosoboronexport"], kinds=["arms_sale"])


def test_cli_similar_and_watchlist_take_entity_filters(seeds_index):
    index = str(seeds_index)
    with Engine.open(seeds_index, encoder=HashingEncoder()) as engine:
        iraq = next(hit.id for hit in engine.search(QUERY, mode="keyword", k=10).hits if "002_" in hit.id)
        libya = next(hit.id for hit in engine.search(QUERY, mode="keyword", k=10).hits if "004_" in hit.id)
    shown = runner.invoke(app, ["similar", iraq, "--org", "Rosoboronexport", "--index", index, "--json"])
    assert shown.exit_code == 0, shown.output
    assert [json.loads(line)["id"] for line in shown.stdout.splitlines() if '"id"' in line] == [libya]
    added = runner.invoke(app, ["watchlist", "add", "libya", QUERY, "--org", "Rosoboronexport", "--index", index])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["watchlist", "list", "--index", index, "--json"])
    assert "Rosoboronexport" in listed.stdout
