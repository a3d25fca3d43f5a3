"""Snippets, highlights and a hit's matched words read text as the searched index analyses it
(its build settings' stemmer and stop list), not as the default index would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.pipeline.builder import build
from index.storage.manifest import BuildSettings
from search.engine import Engine
from search.query import parse_query
from tests.conftest import HashingEncoder

# Porter stems all three words to "gener"; Snowball keeps "general" and "generous" apart.
GENERAL = {"id": "general", "title": "Staff changes", "body": "The general inspected the troops at the base."}
GENEROUS = {"id": "generous", "title": "Aid pledged", "body": "A generous aid package was pledged for the region."}
SIGNED = {"id": "signed", "title": "Protocol agreed", "body": "Delegations signed the protocol on naval cooperation."}


def _marked(hit) -> list[str]:
    return [hit.snippet[start:end] for start, end in hit.highlights]


@pytest.fixture(scope="module")
def indexes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import CORPUS, JSONL_RECORDS

    root = tmp_path_factory.mktemp("analysis")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    records = [*JSONL_RECORDS, GENERAL, GENEROUS, SIGNED]
    (corpus / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    built = {}
    for stemmer in ("snowball", "porter", "none"):
        built[stemmer] = root / stemmer
        build([corpus], built[stemmer], encoder=HashingEncoder(), settings=BuildSettings(stemmer=stemmer))
    return built


@pytest.mark.parametrize("mode", ["keyword", "hybrid"])
def test_an_unstemmed_index_marks_the_words_it_matched(indexes: dict[str, Path], mode: str) -> None:
    with Engine.open(indexes["none"], encoder=HashingEncoder()) as engine:
        result = engine.search("cooperation", k=10, mode=mode)
    matched = [hit for hit in result.hits if hit.keyword is not None]
    assert {hit.id for hit in matched} == {"libya", "iran", "signed"}
    for hit in matched:
        # Snowball would read "cooperation" as "cooper", a term this index does not hold.
        assert _marked(hit) and {word.lower() for word in _marked(hit)} == {"cooperation"}, hit.snippet
        assert hit.relevance is not None and hit.relevance.words == ("cooperation",)
        assert hit.relevance.coverage == 1.0
    assert result.strength.coverage == 1.0


def test_a_porter_index_marks_what_porter_stems_alike(indexes: dict[str, Path]) -> None:
    with Engine.open(indexes["porter"], encoder=HashingEncoder()) as engine:
        hits = engine.search("generously", k=10, mode="keyword").hits
    assert {hit.id for hit in hits} == {"general", "generous"}
    assert {hit.id: _marked(hit) for hit in hits} == {"general": ["general"], "generous": ["generous"]}
    assert all(hit.relevance is not None and hit.relevance.words == ("generously",) for hit in hits)
    with Engine.open(indexes["snowball"], encoder=HashingEncoder()) as engine:
        hits = engine.search("generously", k=10, mode="keyword").hits
    assert [(hit.id, _marked(hit)) for hit in hits] == [("generous", ["generous"])]


def test_similar_marks_the_source_titles_words_as_the_index_holds_them(indexes: dict[str, Path]) -> None:
    with Engine.open(indexes["none"], encoder=HashingEncoder()) as engine:
        hits = {hit.id: hit for hit in engine.similar("iran", k=10).hits}
    # Iran's title: "Russia, Iran Sign Joint Military Cooperation Agreement". Unstemmed, "Sign"
    # is not "signed".
    assert _marked(hits["signed"]) == ["cooperation"]
    assert {word.lower() for word in _marked(hits["libya"])} == {"russia", "military", "cooperation"}


def test_excluded_words_leave_the_embedded_text_as_the_index_reads_them() -> None:
    exact = BuildSettings(stemmer="none")
    assert parse_query("navy NOT cooperation", settings=exact).embed_text == "navy"
    assert parse_query("navy NOT cooperation").embed_text == "navy"
