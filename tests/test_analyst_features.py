"""Metadata, filters, facets, sorting, highlights, duplicates and more-like-this."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from cli import app
from index.errors import InvalidArgument, InvalidParameter
from index.filters import Filters, date_bound
from index.pipeline.builder import build
from search.engine import Engine
from search.snippets import terms
from tests.conftest import FAKE_MODEL, HashingEncoder

# The same wire story under another outlet's headline.
IRAN_COPY = (
    "Russia and Iran seal military pact\n"
    "TEHRAN, January 20 (Sputnik) – Russia and Iran signed an agreement on military cooperation.\n"
    "The navies of both countries will make more port calls.\n"
)


def ids(hits):
    return [h.id for h in hits]


@pytest.fixture
def engine(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        yield engine


def test_articles_carry_countries_found_at_index_time(engine):
    assert engine.article("libya").countries == ("Russia", "Libya")
    assert engine.article("exercise-1").countries == ("India", "France")
    assert engine.article("wheat").countries == ("United States",)  # Kansas


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_country_filter_applies_in_every_leg(engine, mode):
    hits = engine.search("military cooperation", k=10, mode=mode, filters=Filters(countries=("Iran",)))
    assert ids(hits) == ["iran"]
    both = Filters(countries=("Russia", "Libya"))
    assert ids(engine.search("military cooperation", mode=mode, filters=both)) == ["libya"]


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_date_and_source_filters_apply_in_every_leg(engine, mode):
    since = Filters(since="2020-01-01")
    assert ids(engine.search("exercise navy", mode=mode, filters=since)) == ["exercise-1"]
    until = Filters(until="2015-12-31")
    assert ids(engine.search("cooperation", mode=mode, filters=until)) == ["libya"]
    assert ids(engine.search("cooperation exercise", mode=mode, filters=Filters(sources=("xinhua",)))) == ["libya"]


def test_filtered_semantic_search_still_fills_k(engine):
    # Unfiltered, "wheat" is far from the two Russia articles; filtered, both still come back.
    hits = engine.search("wheat harvest", k=2, mode="semantic", filters=Filters(countries=("Russia",)))
    assert sorted(ids(hits)) == ["iran", "libya"]


def test_filters_parse_user_input():
    filters = Filters.parse(["iranian", "Russia"], ["Xinhua"], "2019", "2020-02")
    assert filters == Filters(("Iran", "Russia"), ("Xinhua",), "2019-01-01", "2020-02-29")
    with pytest.raises(InvalidArgument, match="not a country"):
        Filters.parse(["Atlantis"])
    with pytest.raises(InvalidArgument, match="not a date"):
        Filters.parse(since="last tuesday-ish")
    with pytest.raises(InvalidArgument, match="is after"):
        Filters.parse(since="2020", until="2019")


def test_filters_validate_when_constructed_directly():
    # The Python API's callers build Filters themselves: the value is checked and normalised
    # there, not only when a surface parses its input.
    assert Filters(countries=["iranian"], since="2019", until="2019") == Filters(("Iran",), (), "2019-01-01", "2019-12-31")
    assert Filters(countries="Libya").countries == ("Libya",)
    assert Filters(sources=("Xinhua", " ", "Xinhua")).sources == ("Xinhua",)
    with pytest.raises(InvalidParameter, match="not a country") as err:
        Filters(countries=("Narnia",))
    assert err.value.worded(lambda name: "--" + name).startswith("--country 'Narnia'")
    with pytest.raises(InvalidParameter, match="not a date"):
        Filters(until="soonish")
    with pytest.raises(InvalidParameter, match="is after"):
        Filters(since="2021-01-01", until="2020-12-31")
    with pytest.raises(InvalidParameter, match="not a kind"):
        Filters(kinds=("tea party",))


@pytest.mark.parametrize(("value", "end", "expected"), [
    ("2019", False, "2019-01-01"), ("2019", True, "2019-12-31"), ("2021-02", True, "2021-02-28"),
    ("2021-02", False, "2021-02-01"), ("31 May 2019", False, "2019-05-31"),
])
def test_date_bounds(value, end, expected):
    assert date_bound(value, end) == expected


def test_facets_count_the_whole_candidate_set(engine):
    facets = engine.search("military cooperation exercise", mode="keyword", facets=True).facets
    assert facets.total == 3
    assert dict(facets.countries) == {"Russia": 2, "Iran": 1, "Libya": 1, "India": 1, "France": 1}
    assert dict(facets.years) == {"2012": 1, "2021": 1, "undated": 1}
    assert dict(facets.sources) == {"Xinhua": 1, "Sputnik": 1, "Reuters": 1}
    # k=1 pages the hits, not the facets.
    assert engine.search("military cooperation exercise", mode="keyword", k=1, facets=True).facets.total == 3


def test_sort_by_date_puts_newest_first_and_undated_last(engine):
    hits = engine.search("military cooperation exercise", mode="keyword", sort="date")
    assert ids(hits) == ["exercise-1", "libya", "iran"]


def test_highlight_offsets_mark_query_terms_in_the_snippet(engine):
    hit = engine.search("cooperation with Libya", k=1, mode="keyword")[0]
    marked = [hit.snippet[s:e] for s, e in hit.highlights]
    assert marked and all(terms(word) <= terms("cooperation with Libya") for word in marked)
    assert "Libya" in marked


def test_semantic_only_hits_still_get_a_snippet(engine):
    hit = engine.search("grain silos plains", k=1, mode="semantic")[0]
    assert hit.keyword is None and "silos" in hit.snippet


def test_near_duplicates_collapse_into_one_hit(tmp_path, corpus_dir):
    (corpus_dir / "iran-copy.txt").write_text(IRAN_COPY)
    encoder = HashingEncoder()
    build([corpus_dir], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        collapsed = engine.search("port calls", mode="keyword")
        assert len(collapsed) == 1 and set([collapsed[0].id, *collapsed[0].duplicates]) == {"iran", "iran-copy"}
        assert sorted(ids(engine.search("port calls", mode="keyword", collapse=False))) == ["iran", "iran-copy"]
        # More like this leaves out the article and its copies.
        assert not {"iran", "iran-copy"} & set(ids(engine.similar("iran", k=5)))


def test_similar_finds_the_closest_article(tmp_path, corpus_dir):
    (corpus_dir / "libya2.txt").write_text(
        "Libya seeks Russian arms again\nA Libyan delegation will visit Moscow to discuss arms contracts and cooperation.\n"
    )
    encoder = HashingEncoder()
    build([corpus_dir], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        hits = engine.similar("libya", k=2)
    assert hits[0].id == "libya2" and "libya" not in ids(hits)


def test_cli_filters_facets_and_formats(tmp_path, corpus_dir):
    runner = CliRunner()
    index_dir = str(tmp_path / "ix")
    assert runner.invoke(app, ["index", str(corpus_dir), "--index", index_dir, "--model", FAKE_MODEL]).exit_code == 0
    result = runner.invoke(app, ["search", "military cooperation", "--index", index_dir, "--country", "iranian", "--json"])
    assert result.exit_code == 0, result.output
    (hit,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert hit["id"] == "iran" and "Iran" in hit["countries"] and hit["date"] is None
    assert all(hit["snippet"][s:e] for s, e in hit["highlights"])

    result = runner.invoke(app, ["search", "cooperation", "--index", index_dir, "--since", "2010", "--until", "2013", "--facets"])
    assert result.exit_code == 0 and "Russia may resume" in result.output and "Iran Sign" not in result.output
    assert "Facets over 1 candidates" in result.output and "years: 2012 1" in result.output

    result = runner.invoke(app, ["search", "cooperation", "--index", index_dir, "--format", "csv", "--mode", "keyword"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["id"] for r in rows} == {"libya", "iran"} and rows[0]["countries"]

    result = runner.invoke(app, ["search", "x", "--index", index_dir, "--country", "Narnia"])
    assert result.exit_code == 1 and "not a country" in result.output
    result = runner.invoke(app, ["similar", "libya", "--index", index_dir, "--k", "2"])
    assert result.exit_code == 0 and " 1. " in result.output
    result = runner.invoke(app, ["search", "military", "--index", index_dir, "--json", "--facets", "--mode", "keyword"])
    assert "facets" in json.loads(result.stdout.splitlines()[-1])
