"""Regions in queries: phrases found, members from country_converter's data, the ranking lift."""

from __future__ import annotations

import json

from index.pipeline.builder import build
from search.engine import Engine
from search.regions import boost_region, expansion_terms, find_regions, note, regions


def test_un_regions_answer_to_their_everyday_names():
    (north,) = find_regions("arms sales to North Africa")
    assert (north.phrase, north.name) == ("North Africa", "Northern Africa")
    assert north.countries == ("Algeria", "Egypt", "Libya", "Morocco", "Sudan", "Tunisia", "Western Sahara")
    assert [r.name for r in find_regions("navies of south-east asia")] == ["South-eastern Asia"]
    assert "Vietnam" in find_regions("Southeast Asia")[0].countries
    assert [r.name for r in find_regions("CENTRAL AFRICA")] == ["Middle Africa"]


def test_a_country_named_like_a_region_is_not_a_region():
    assert find_regions("SANCTIONS AGAINST SOUTH AFRICA") == []
    assert find_regions("oil in the Gulf of Mexico") == []
    assert find_regions("North America") == []  # the continent, not the UN's Northern America


def test_regions_outside_the_un_list():
    gulf = find_regions("the Gulf states buy jets")[0]
    assert gulf.countries == ("Bahrain", "Kuwait", "Oman", "Qatar", "Saudi Arabia", "United Arab Emirates")
    assert "Mali" in find_regions("counter-terrorism in the Sahel")[0].countries
    assert "Serbia" in find_regions("arms in the western Balkans")[0].countries
    assert {"Iran", "Egypt", "Israel"} <= set(find_regions("the Middle East")[0].countries)
    assert "Armenia" not in find_regions("the Middle East")[0].countries
    assert "France" in find_regions("EU defence fund")[0].countries
    assert find_regions("eu") == []  # the abbreviations only in capitals


def test_members_use_the_names_accord_stores():
    from index.text.countries import canonical_names

    known = set(canonical_names())
    for name, members in regions().items():
        assert members and set(members) <= known, name


def test_expansion_note_and_lift():
    found = find_regions("arms sales to North Africa")
    assert expansion_terms(found).split()[:2] == ["Algeria", "Egypt"]
    assert note(found).startswith('region read as its countries: "North Africa" as Algeria, Egypt, Libya')
    run = [("iran", 1.0), ("libya", 0.6), ("peru", 0.5)]
    assert boost_region(run, {"libya"}, 0.5) == [("libya", 1.1), ("iran", 1.0), ("peru", 0.5)]
    assert boost_region(run, {"libya"}, 0.0) == run
    assert boost_region([], {"libya"}, 0.5) == []


def test_search_reads_a_region_as_its_countries(tmp_path, encoder):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        json.dumps({"id": "iran", "title": "Embargo", "body": "Iran faces an embargo on arms sales and deliveries."}) + "\n"
        + json.dumps({"id": "libya", "title": "Deal", "body": "Russia may resume arms deliveries to Libya."}) + "\n"
    )
    build([docs], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        assert [h.id for h in engine.search("arms sales", mode="keyword")] == ["iran", "libya"]
        for mode in ("keyword", "hybrid", "semantic"):
            result = engine.search("arms sales to North Africa", mode=mode)
            assert result[0].id == "libya", mode
            assert any('"North Africa" as Algeria' in n for n in result.notes)
        assert engine.search("arms sales", mode="hybrid").notes == ()
