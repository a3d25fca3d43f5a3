"""Analyst views: the relevance cut-off, match sets, timelines, country pairs and charts."""

from __future__ import annotations

import json

import pytest

from index.errors import InvalidArgument
from index.filters import Filters
from index.pipeline.builder import build
from search import relevance
from search.engine import Candidate, Engine, LegScore
from search.views import matches as matches_module
from search.views.matches import CutOff, Match, MatchSet, find_matches
from search.views.pairs import pairs
from search.views.text import bar_chart
from search.views.timeline import timeline, timeline_of
from tests.conftest import FAKE_MODEL, requires

# With the fake encoder "military cooperation" scores iran 0.63, libya 0.39, wheat 0.19 and
# exercise-1 0.0 by cosine: 0.3 keeps the two cooperation stories and nothing else.
LOW = CutOff(min_cosine=0.3, min_coverage=None)
NAVAL_WORDS = ("frigate corvette submarine destroyer tanker dock crane harbour pier radar sonar missile drill convoy "
               "escort patrol officer sailor captain admiral cadet academy treaty visit summit minister delegation "
               "budget contract shipyard engine hull torpedo mine helicopter drone").split()
IRAN_COPY = (
    "Russia and Iran seal military pact\n"
    "TEHRAN, January 20 (Sputnik) – Russia and Iran signed an agreement on military cooperation.\n"
    "The navies of both countries will make more port calls.\n"
)


@pytest.fixture
def engine(built_index, encoder):
    with Engine.open(built_index, encoder=encoder) as engine:
        yield engine


def candidate(cosine: float | None, keyword: bool) -> Candidate:
    return Candidate("a", 1.0, LegScore(1, 3.0) if keyword else None, LegScore(1, cosine) if cosine is not None else None)


def test_cutoff_admits_by_best_passage_cosine():
    rule = CutOff(min_cosine=0.4)
    assert rule.admits(candidate(0.4, keyword=False))
    assert rule.admits(candidate(0.9, keyword=True))
    assert not rule.admits(candidate(0.39, keyword=True))  # sharing a word is not enough
    assert not rule.admits(candidate(None, keyword=True))  # not even close in meaning
    strict = CutOff(min_cosine=0.4, require_keyword=True)
    assert strict.admits(candidate(0.5, keyword=True)) and not strict.admits(candidate(0.5, keyword=False))
    assert "0.40" in rule.describe() and "query term" in strict.describe()


def test_cutoff_out_of_range_is_an_error():
    with pytest.raises(InvalidArgument, match="cut-off"):
        CutOff(min_cosine=1.5)


def test_default_cutoff_is_the_result_lists_matching_hits():
    rule = CutOff()
    assert rule.top == matches_module.DEFAULT_TOP == 100 and rule.min_coverage == relevance.WEAK_COVERAGE
    assert rule.min_cosine is None and rule.resolved(FAKE_MODEL).min_cosine == relevance.weak_cosine(FAKE_MODEL)
    assert CutOff.for_model(FAKE_MODEL).min_cosine == matches_module.DEFAULT_MIN_COSINE == 0.50
    with pytest.raises(InvalidArgument, match="1 to 5000"):
        CutOff(top=0)


def test_matches_are_the_hits_above_the_cutoff_best_first(engine):
    found = find_matches(engine, "military cooperation", cutoff=LOW)
    ranked = [c.id for c in engine.candidates("military cooperation", "hybrid", limit=10)]
    both = [i for i in ranked if i in {"libya", "iran"}]  # the hybrid ranker's order
    assert found.ids() == both and sorted(both) == ["iran", "libya"]
    assert [m.rank for m in found.matches] == [1, 2]
    assert all(m.cosine >= 0.3 for m in found.matches) and found.complete
    libya = found.matches[both.index("libya")]
    assert libya.countries == ("Russia", "Libya") and libya.date == "2012-08-22"
    # The default: both hold every word of the query.
    assert find_matches(engine, "military cooperation").ids() == both
    assert find_matches(engine, "military cooperation", cutoff=CutOff(min_cosine=0.99, min_coverage=None)).matches == ()


def test_matches_respect_filters(engine):
    assert find_matches(engine, "military cooperation", cutoff=LOW, filters=Filters(countries=("Iran",))).ids() == ["iran"]
    assert find_matches(engine, "military cooperation", cutoff=LOW, filters=Filters(since="2010-01-01")).ids() == ["libya"]


def test_the_views_count_the_first_page_of_results(engine):
    # What the analyst sees first is what the views count: the first page (k=10, the default
    # page) of the same query and filters lies inside the match set, in the same order.
    for query, filters in [("military cooperation", Filters()), ("Russia navy agreement", Filters(countries=("Russia",))),
                           ("naval exercise", Filters())]:
        page = [hit.id for hit in engine.search(query, k=10, filters=filters)]
        counted = find_matches(engine, query, filters=filters, cutoff=CutOff(every_hit=True)).ids()
        assert counted[: len(page)] == page
        matching = find_matches(engine, query, filters=filters).ids()
        assert set(matching) <= set(counted) and matching


def test_on_topic_result_pages_are_counted_whole(tmp_path, encoder):
    # 24 naval-cooperation reports and 12 farm reports: every hit of the first two pages of
    # "naval cooperation" is on topic, and the views count all of them. The old rule (best-passage
    # cosine >= 0.50 over the index) left out the reports whose passages say more besides.
    folder = tmp_path / "many"
    folder.mkdir()
    ports = ["Tartus", "Bandar Abbas", "Chabahar", "Sevastopol", "Novorossiysk", "Bushehr"]
    for i in range(24):
        extra = " ".join(NAVAL_WORDS[(i * 7 + j * 3) % len(NAVAL_WORDS)] for j in range(12))  # no two alike
        (folder / f"navy-{i:02d}.txt").write_text(
            f"Naval cooperation talks number {i}\nThe navies discussed naval cooperation at {ports[i % len(ports)]}. "
            f"Report {i} lists {extra}.\n")
    for i in range(12):
        (folder / f"farm-{i:02d}.txt").write_text(
            f"Harvest report {i}\nFarmers in Kansas brought in wheat and corn. Grain prices fell again.\n")
    build([folder], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as many:
        pages = [hit.id for offset in (0, 10) for hit in many.search("naval cooperation", k=10, offset=offset)]
        counted = find_matches(many, "naval cooperation").ids()
        old_rule = find_matches(many, "naval cooperation", cutoff=CutOff.for_model(FAKE_MODEL)).ids()
    assert all(i.startswith("navy-") for i in pages)
    assert counted[:20] == pages and sorted(counted) == [f"navy-{i:02d}" for i in range(24)]
    assert len(old_rule) < len(pages)


def test_top_bounds_the_count_and_says_so(engine):
    found = find_matches(engine, "military cooperation", cutoff=CutOff(top=1, every_hit=True))
    assert found.ids() == [engine.search("military cooperation", k=1)[0].id]
    assert not found.complete and any("past its first 1 hits" in note for note in found.notes)
    assert found.notes[0] == "counted: one of the first 1 hits of the result list"


def test_an_unrelated_query_counts_nothing_and_says_weak(engine):
    found = find_matches(engine, "chocolate cake baking")
    assert found.matches == () and found.strength.label == "weak"
    assert any(note.startswith("weak match") for note in found.notes)


def test_matches_collapse_duplicates_like_search(tmp_path, corpus_dir, encoder):
    (corpus_dir / "iran-copy.txt").write_text(IRAN_COPY)
    build([corpus_dir], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        collapsed = find_matches(engine, "military cooperation", cutoff=LOW)
        separate = find_matches(engine, "military cooperation", cutoff=LOW, collapse=False)
        search_ids = [h.id for h in engine.search("military cooperation", k=10)]
    iran = [m for m in collapsed.matches if m.id in ("iran", "iran-copy")]
    assert len(iran) == 1 and iran[0].duplicates and iran[0].id in search_ids
    assert sorted(separate.ids()) == ["iran", "iran-copy", "libya"]
    assert len(collapsed.matches) == 2


def test_timeline_counts_per_year_and_undated_apart(engine):
    result = timeline(engine, "military cooperation", by="year", cutoff=LOW)
    assert [(p.label, p.count, p.ids) for p in result.periods] == [("2012", 1, ("libya",))]
    assert result.undated == ("iran",) and result.total == 2 and result.dated == 1
    assert any("without a date" in note for note in result.notes)


def test_timeline_date_filter_leaves_undated_out(engine):
    result = timeline(engine, "military cooperation", by="year", cutoff=LOW, filters=Filters(until="2020-12-31"))
    assert result.undated == () and result.total == 1


def make_matches(dates: list[str | None], countries: list[tuple[str, ...]] | None = None, filters: Filters | None = None) -> MatchSet:
    countries = countries or [()] * len(dates)
    found = tuple(
        Match(f"a{i}", i + 1, 1.0 - i / 10, 0.6, f"title {i}", date, None, c, None, None, None)
        for i, (date, c) in enumerate(zip(dates, countries))
    )
    return MatchSet("q", filters or Filters(), CutOff(), found)


def test_timeline_lists_every_period_between_first_and_last():
    found = make_matches(["2019-11-03", "2020-02-10", "2020-02-01", None])
    months = timeline_of(found, "month")
    assert [(p.label, p.count) for p in months.periods] == [("2019-11", 1), ("2019-12", 0), ("2020-01", 0), ("2020-02", 2)]
    assert months.periods[-1].ids == ("a1", "a2") and months.undated == ("a3",)
    years = timeline_of(found, "year")
    assert [(p.label, p.count) for p in years.periods] == [("2019", 1), ("2020", 2)]


def test_timeline_bad_period_is_an_error(engine):
    with pytest.raises(InvalidArgument, match="--by 'week'"):
        timeline(engine, "military cooperation", by="week")


def test_pairs_count_dates_and_best_example():
    found = make_matches(
        ["2019-10-20", None, "2012-08-22", "2015-01-01"],
        [("Russia", "Iraq"), ("Russia", "Iraq", "Iran"), ("Russia", "Libya", "Iraq"), ("France", "India")],
        filters=Filters(countries=("Russia",)),
    )
    from search.views.pairs import pairs_of

    result = pairs_of(found)
    table = {p.countries: (p.count, p.first, p.last, p.undated, p.example.id) for p in result.pairs}
    assert table == {
        ("Iraq", "Russia"): (3, "2012-08-22", "2019-10-20", 1, "a0"),
        ("Iran", "Russia"): (1, None, None, 1, "a1"),
        ("Libya", "Russia"): (1, "2012-08-22", "2012-08-22", 0, "a2"),
    }  # Iraq-Iran and Iraq-Libya leave out Russia; France-India too
    assert [p.countries for p in result.pairs] == [("Iraq", "Russia"), ("Iran", "Russia"), ("Libya", "Russia")]  # then by best rank
    assert result.focus == ("Russia",) and result.matches == 4


def test_pairs_over_an_index(engine):
    result = pairs(engine, "military cooperation", cutoff=LOW)
    ranked = [c.id for c in engine.candidates("military cooperation", "hybrid", limit=10)]
    found = {"libya": (("Libya", "Russia"), 1, "libya"), "iran": (("Iran", "Russia"), 1, "iran")}
    # Best rank first: in the order the hybrid ranker puts their example articles.
    assert [(p.countries, p.count, p.example.id) for p in result.pairs] == [found[i] for i in ranked if i in found]
    iran_only = pairs(engine, "military cooperation", cutoff=LOW, filters=Filters(countries=("Iran",)))
    assert [p.countries for p in iran_only.pairs] == [("Iran", "Russia")]


def test_bar_chart_fits_the_width_and_folds_empty_runs():
    rows = [("2019-01", 120), ("2019-02", 0), ("2019-03", 0), ("2019-04", 0), ("2019-05", 1), ("2019-06", 0)]
    lines = bar_chart(rows, width=80)
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].startswith("2019-01 120 █") and len(lines[0]) == 80
    assert "3 empty: 2019-02 to 2019-04" in lines[1]
    assert lines[2] == "2019-05   1 █"  # a small count still shows
    assert lines[3] == "2019-06   0"
    assert bar_chart([]) == []


@requires("plot")
@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_plot_writes_a_chart_file(tmp_path, suffix, magic):
    from search.views.plot import write_timeline_chart

    chart = tmp_path / f"chart{suffix}"
    write_timeline_chart(timeline_of(make_matches(["2019-11-03", "2020-02-10", None]), "month"), chart)
    assert chart.read_bytes().startswith(magic)


def test_plot_refuses_other_formats(tmp_path):
    from search.views.plot import write_timeline_chart

    with pytest.raises(InvalidArgument, match=r"\.png or \.svg"):
        write_timeline_chart(timeline_of(make_matches(["2019-11-03"]), "month"), tmp_path / "chart.gif")


def test_views_json_round_trip(engine):
    from dataclasses import asdict

    text = json.dumps(asdict(timeline(engine, "military cooperation", cutoff=LOW)))
    assert json.loads(text)["undated"] == ["iran"]
