"""The keyword index's stemmer and stop list are build settings: validated, kept in the manifest
(an old manifest without them reads as the defaults it was built with), used by the keyword
index a build writes, and by the engine to read queries as that index analyses text."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from index.errors import IndexIncompatible, InvalidArgument
from index.pipeline.builder import build
from index.storage.keyword import keyword_analyzer
from index.storage.manifest import STEMMERS, STOP_LISTS, BuildSettings, manifest_from_dict, read_manifest
from search.engine import Engine, RankingConfig
from search.query import parse_query
from tests.conftest import requires


def keyword_ids(index_dir, text: str) -> set[str]:
    with Engine.open(index_dir) as engine:
        return {hit.id for hit in engine.search(text, k=10, mode="keyword").hits}


@pytest.mark.parametrize(("field", "value"), [("stemmer", "lancaster"), ("stop_words", "french")])
def test_an_unknown_stemmer_or_stop_list_is_a_one_line_error_naming_the_setting(field, value):
    with pytest.raises(InvalidArgument) as raised:
        BuildSettings(**{field: value})
    message = str(raised.value)
    assert message.startswith(f"{field} must be one of") and repr(value) in message and "\n" not in message
    with pytest.raises(InvalidArgument, match=field):
        keyword_analyzer(**{field: value})


def test_every_named_stemmer_and_stop_list_has_an_analyzer():
    sentence = "What problems are there which generously cooperating states have?"
    for stemmer in STEMMERS:
        for stop_words in STOP_LISTS:
            tokens = [t.text for t in keyword_analyzer(stemmer, stop_words)(sentence)]
            assert ("cooper" in tokens) == (stemmer == "snowball")
            assert ("cooperat" in tokens) == (stemmer == "porter")
            assert ("cooperating" in tokens) == (stemmer == "none")
            assert ("are" in tokens or "ar" in tokens) == (stop_words == "none")


def test_the_settings_round_trip_through_the_manifest_and_old_manifests_read_as_the_defaults(built_index):
    raw = json.loads((built_index / "manifest.json").read_text())
    assert (raw["settings"]["stemmer"], raw["settings"]["stop_words"]) == ("snowball", "english")
    chosen = BuildSettings(stemmer="none", stop_words="lucene")
    manifest = replace(read_manifest(built_index), settings=chosen)
    assert manifest_from_dict(json.loads(manifest.to_json()), "ix").settings == chosen
    for key in ("stemmer", "stop_words"):
        del raw["settings"][key]
    assert manifest_from_dict(raw, "ix").settings == BuildSettings()
    raw["settings"]["stemmer"] = "lancaster"
    with pytest.raises(IndexIncompatible, match="^ix: stemmer must be one of"):
        manifest_from_dict(raw, "ix")


def test_an_index_built_without_stemming_finds_a_word_form_only_exactly(tmp_path, corpus_dir, encoder):
    stemmed, exact = tmp_path / "stemmed", tmp_path / "exact"
    build([corpus_dir], stemmed, encoder=encoder)
    build([corpus_dir], exact, encoder=encoder, settings=BuildSettings(stemmer="none"))
    assert read_manifest(exact).settings.stemmer == "none"
    assert keyword_ids(stemmed, "harvests") == keyword_ids(stemmed, "harvest") == {"wheat"}
    # "harvests" is not in the text, and no stemmer reduces either form: the index holds
    # "harvest" and the query is read as the index analyses text.
    assert keyword_ids(exact, "harvests") == set()
    assert keyword_ids(exact, "harvest") == {"wheat"}
    with Engine.open(exact) as engine:
        assert engine.keyword_run("harvests", 10) == []
        assert [doc for doc, _s in engine.keyword_run("harvest", 10)] == ["wheat"]
        assert {c.id for c in engine.candidates("harvest", "keyword")} == {"wheat"}


def test_changing_the_analysis_of_an_index_rewrites_its_keyword_index(built_index, corpus_dir, encoder):
    assert keyword_ids(built_index, "the") == set()  # a stop word: nothing to search for
    build([corpus_dir], built_index, encoder=encoder, settings=BuildSettings(stemmer="none", stop_words="none"))
    assert keyword_ids(built_index, "harvests") == set()  # no longer stemmed, though not rebuilt
    assert keyword_ids(built_index, "the") >= {"wheat", "exercise-1"}
    # An update keeps the index's own settings when none are given.
    build([corpus_dir], built_index, encoder=encoder)
    assert asdict(read_manifest(built_index).settings) == asdict(BuildSettings(stemmer="none", stop_words="none"))


def test_an_index_from_before_the_settings_opens_and_searches_as_before(built_index):
    queries = ["military cooperation", "harvests in Kansas", "navy", "What is the wheat price?"]
    with Engine.open(built_index) as engine:
        before = {q: [(h.id, h.score) for h in engine.search(q, k=5).hits] for q in queries}
    raw = json.loads((built_index / "manifest.json").read_text())
    for key in ("stemmer", "stop_words"):
        del raw["settings"][key]
    (built_index / "manifest.json").write_text(json.dumps(raw))
    with Engine.open(built_index) as engine:
        assert {q: [(h.id, h.score) for h in engine.search(q, k=5).hits] for q in queries} == before
    assert before["harvests in Kansas"][0][0] == "wheat"


def test_queries_are_analysed_with_the_settings_they_are_parsed_for():
    porter = BuildSettings(stemmer="porter", stop_words="whoosh")
    assert parse_query("generously").highlight == {"generous"}
    assert parse_query("generously", settings=porter).highlight == {"gener"}
    assert parse_query("generously", settings=BuildSettings(stemmer="none")).highlight == {"generously"}
    assert parse_query("what", settings=porter).highlight == {"what"}  # not on whoosh's short list
    assert parse_query("what").highlight == frozenset()
    assert parse_query("generously", settings=porter).settings == porter


@requires("postgres")
def test_a_postgresql_store_refuses_another_analysis_and_keeps_what_it_held(corpus_dir, encoder, pg_url):
    with pytest.raises(InvalidArgument, match="^a PostgreSQL store indexes with stemmer 'snowball'.*'porter'"):
        build([corpus_dir], pg_url, encoder=encoder, settings=BuildSettings(stemmer="porter"))
    build([corpus_dir], pg_url, encoder=encoder)  # the defaults: indexed, and searched as before
    with Engine.open(pg_url, encoder=encoder) as engine:
        assert {hit.id for hit in engine.search("harvests", k=5, mode="keyword").hits} == {"wheat"}
    with pytest.raises(InvalidArgument, match="^a PostgreSQL store scores with Lucene's idf only, not 'whoosh'"):
        Engine.open(pg_url, encoder=encoder, ranking=RankingConfig(idf="whoosh"))
