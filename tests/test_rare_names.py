"""Rare exact names count: a query word rare in the collection lifts the article containing it
(the hybrid's coverage boost, search/fusion.py `boost_by_coverage`, RankingConfig.coverage_boost).

The corpus: ten articles about countries' nuclear deterrents, which say "nuclear deterrent"
again and again, and one shipyard article that names Trident among other things. The semantic
leg (here the fake bag-of-words encoder) prefers the deterrent articles, and without the boost
one of them comes first; only the keyword leg knows Trident. "Trident nuclear deterrent" must
put the Trident article first.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from index.pipeline.builder import build
from search.engine import Engine, RankingConfig
from search.fusion import boost_by_coverage
from tests.conftest import HashingEncoder

COUNTRIES = ["France", "India", "Pakistan", "Russia", "China", "Israel", "North Korea", "the United States", "NATO", "Iran"]
DEBATE = ("The debate covers budgets, doctrine, treaties, warheads, missiles, bombers and the cost of readiness. "
          "Officials spoke of stability, arms control, verification and the risk of miscalculation. ")
# The shipyard article's many other subjects keep the fake encoder's cosine to the query at 0.6 of
# the deterrent articles': with each leg divided by its best score, that share of the semantic
# leg decides against it without the boost.
TRIDENT = ("Barrow shipyard wins Trident work\nThe Trident submarines carry the nuclear deterrent and need new boats. "
           "Members also debated apprentices, docks, cranes, steel, wages, pensions, housing, rail links, ferries, "
           "schools, clinics, roads, bridges, tourism, fishing quotas, harbour dues, parking, libraries, allotments, "
           "buses, street lights, recycling and the football club.\n")
QUERY = "Trident nuclear deterrent"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rare") / "corpus"
    folder.mkdir()
    for i, country in enumerate(COUNTRIES):
        (folder / f"deterrent-{i:02d}.txt").write_text(
            f"{country} reviews its nuclear deterrent\n{country} said its nuclear deterrent remains credible. "
            f"The nuclear deterrent of {country} was debated in parliament. {DEBATE}\n")
    (folder / "trident.txt").write_text(TRIDENT)
    index_dir = folder.parent / "index"
    build([folder], index_dir, encoder=HashingEncoder())
    return index_dir


def ranked(index_dir: Path, ranking: RankingConfig) -> list[str]:
    with Engine.open(index_dir, encoder=HashingEncoder(), ranking=ranking) as engine:
        return [hit.id for hit in engine.search(QUERY, k=11)]


def test_the_one_article_naming_a_rare_name_comes_first(index_dir):
    assert ranked(index_dir, RankingConfig())[0] == "trident"


def test_without_the_boost_the_rare_name_is_outranked(index_dir):
    # The reason for the boost: fused by the legs alone, the deterrent articles come first.
    assert ranked(index_dir, replace(RankingConfig(), coverage_boost=0.0))[0] != "trident"


def test_keyword_and_semantic_modes_are_left_alone(index_dir):
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine, \
         Engine.open(index_dir, encoder=HashingEncoder(), ranking=replace(RankingConfig(), coverage_boost=0.0)) as off:
        for mode in ("keyword", "semantic"):
            assert [h.id for h in engine.search(QUERY, mode=mode)] == [h.id for h in off.search(QUERY, mode=mode)]


def test_boost_by_coverage_adds_weight_times_coverage_and_keeps_ties_in_order():
    run = [("a", 0.9), ("b", 0.8), ("c", 0.8), ("d", 0.1)]
    boosted = boost_by_coverage(run, {"d": 1.0, "c": 0.5, "b": None}, 0.5)
    assert boosted == [("c", pytest.approx(1.05 / 1.5)), ("a", pytest.approx(0.6)), ("b", pytest.approx(0.8 / 1.5)),
                       ("d", pytest.approx(0.4))]
    assert boost_by_coverage(run, {"d": 1.0}, 0.0) == run
    assert boost_by_coverage([("x", 0.5), ("y", 0.5)], {"x": 1.0}, 0.3) == [("x", pytest.approx(0.8 / 1.3)),
                                                                            ("y", pytest.approx(0.5 / 1.3))]
    assert boost_by_coverage(run, {"a": 0.0}, 0.3) == run  # nothing covered: nothing to lift
    with pytest.raises(ValueError):
        boost_by_coverage(run, {}, -0.1)
