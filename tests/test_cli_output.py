"""Every listing command offers the same output choices (--format table|json|csv and --json),
and each format holds what the table shows."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.conftest import FAKE_MODEL
from tests.test_views_cli import IRAQ, run

LISTING = [["search"], ["similar"], ["timeline"], ["pairs"], ["watchlist", "list"], ["alerts"]]


@pytest.fixture
def ix(tmp_path: Path, corpus_dir: Path) -> list[str]:
    index_dir = tmp_path / "ix"
    assert run("index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL).exit_code == 0
    return ["--index", str(index_dir)]


@pytest.mark.parametrize("path", LISTING, ids=" ".join)
def test_every_listing_command_offers_the_same_formats(path):
    shown = " ".join(run(*path, "--help").output.split())
    assert "-f, --format <table|json|csv>" in shown and "--json Same as --format json." in shown


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_similar_json_lines_are_its_hits(ix):
    table = run("similar", "libya", *ix)
    lines = run("similar", "libya", "--json", *ix).output.splitlines()
    hits = [json.loads(line) for line in lines]
    assert hits and all(hit["id"] != "libya" for hit in hits)
    assert [hit["title"] for hit in hits] == [line[4:] for line in table.output.splitlines() if line[:4].strip().rstrip(".").isdigit()]


def test_pairs_csv_has_a_row_per_pair(ix):
    shown = json.loads(run("pairs", "military cooperation", "--json", *ix).output)
    rows = _csv(run("pairs", "military cooperation", "--format", "csv", *ix).output)
    assert rows[0] == ["country_a", "country_b", "count", "first", "last", "undated", "example_id", "example_title"]
    assert [sorted(row[:2]) for row in rows[1:]] == [sorted(pair["countries"]) for pair in shown["pairs"]]
    assert len(rows) > 1


def test_watchlist_and_alerts_csv(ix, corpus_dir):
    assert run("watchlist", "add", "coop", "Russia Iraq military cooperation agreement", *ix).exit_code == 0
    assert _csv(run("watchlist", "list", "--format", "csv", *ix).output)[1][:2] == ["coop", "Russia Iraq military cooperation agreement"]
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    assert run("index", *ix).exit_code == 0
    rows = _csv(run("alerts", "--format", "csv", *ix).output)
    assert rows[0] == ["search", "id", "title", "date", "source"]
    assert [row[:2] for row in rows[1:]] == [["coop", "iraq"]]


def test_facets_have_no_csv_form_and_say_so(ix):
    result = run("search", "military cooperation", "--facets", "--format", "csv", *ix)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["accord: error: --facets has no CSV form; use --format table or json with it"]
    assert run("search", "military cooperation", "--facets", "--json", *ix).output.splitlines()[-1].startswith('{"facets"')
