"""Saved searches and alerts: persistence, concurrent use, what counts as new, --exec, the watcher."""

from __future__ import annotations

import json
import multiprocessing
import shlex
import sys
import threading
import time
from pathlib import Path

import pytest

from index.errors import InvalidArgument, SavedSearchExists, SavedSearchNotFound
from index.filters import Filters
from index.pipeline.builder import build
from index.storage.watchlist import WATCHLIST_FILE
from search.engine import Engine
from search.views.matches import CutOff
from search.views.watchlist import (
    Watchlist,
    add_search,
    check_after_update,
    check_alerts,
    notify,
    parse_since,
)
from tests.conftest import HashingEncoder

# A sixth article: a cooperation story the "cooperation" search must pick up, about nothing wheat.
IRAQ = (
    "Iraq, Russia Sign Military Cooperation Agreement\n"
    "BAGHDAD, October 20 (Sputnik) - Iraq and Russia signed an agreement on military cooperation.\n"
    "The defense ministries of both countries will hold talks on military cooperation.\n"
)
CUT = CutOff(min_cosine=0.3)


def open_engine(index_dir: Path | str) -> Engine:
    return Engine.open(index_dir, encoder=HashingEncoder())


def test_add_list_remove(built_index):
    with open_engine(built_index) as engine:
        _saved, found = add_search(engine, "coop", "military cooperation", filters=Filters(countries=("Russia",)), exec="cat")
    assert found.ids() == ["iran", "libya"]  # the default cut-off (both have the query's words); the baseline, not an alert
    assert (built_index / WATCHLIST_FILE).exists()
    listed = Watchlist(built_index).searches()
    assert [(s.name, s.query, s.filters.countries, s.exec) for s in listed] == [("coop", "military cooperation", ("Russia",), "cat")]
    Watchlist(built_index).remove("coop")
    assert Watchlist(built_index).searches() == []


def test_unknown_and_duplicate_names_are_errors(built_index):
    watchlist = Watchlist(built_index)
    with pytest.raises(SavedSearchNotFound, match="no saved search named 'nope'.*accord watchlist list"):
        watchlist.remove("nope")
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation")
        with pytest.raises(InvalidArgument, match="'coop' exists"):
            add_search(engine, "coop", "wheat")
        with pytest.raises(InvalidArgument, match="watchlist name"):
            add_search(engine, "  ", "wheat")
        with pytest.raises(InvalidArgument, match="--exec"):
            add_search(engine, "bad-exec", "wheat", exec="notify 'unclosed")
        with pytest.raises(SavedSearchNotFound, match="saved searches: coop"):
            check_alerts(engine, ["nope"])


def test_reading_an_absent_watchlist_creates_nothing(tmp_path):
    assert Watchlist(tmp_path / "none").searches() == []
    assert not (tmp_path / "none").exists()


def test_looking_without_acknowledging_keeps_listing_the_new_match(built_index, corpus_dir):
    """The web page looks at alerts without acknowledging them: they stay listed (and only the
    first look has them as `new`) until an acknowledging check, which lists them once more."""
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([corpus_dir], built_index, encoder=HashingEncoder())
    with open_engine(built_index) as engine:
        first, second = (check_alerts(engine, ["coop"], cutoff=CUT, acknowledge=False)[0] for _ in range(2))
        assert [m.id for m in first.matches] == ["iraq"] and [m.id for m in first.new] == ["iraq"]
        assert [m.id for m in second.matches] == ["iraq"] and second.new == ()
        assert [m.id for m in check_alerts(engine, ["coop"], cutoff=CUT)[0].matches] == ["iraq"]
        assert check_alerts(engine, ["coop"], cutoff=CUT, acknowledge=False)[0].matches == ()


def test_a_taken_name_is_its_own_error(built_index):
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation")
        with pytest.raises(SavedSearchExists, match="'coop' exists"):
            add_search(engine, "coop", "wheat")


def test_since_parsing():
    assert parse_since(None) is None and parse_since("last") is None
    assert parse_since("2026-11") == "2026-11-01"
    with pytest.raises(InvalidArgument, match="--since 'yesterday-ish'"):
        parse_since("yesterday-ish")


def test_alerts_list_exactly_the_new_matching_article(built_index, corpus_dir):
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
        add_search(engine, "wheat", "wheat harvest", cutoff=CUT)
        assert [a.matches for a in check_alerts(engine, cutoff=CUT)] == [(), ()]  # nothing new yet
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([corpus_dir], built_index, encoder=HashingEncoder())
    with open_engine(built_index) as engine:
        alerts = {a.search.name: a for a in check_alerts(engine, cutoff=CUT)}
        assert [m.id for m in alerts["coop"].matches] == ["iraq"]
        assert [m.id for m in alerts["coop"].new] == ["iraq"]
        assert alerts["wheat"].matches == ()
        # Checked: the next check lists nothing, but asking since a date lists it again.
        assert check_alerts(engine, ["coop"], cutoff=CUT)[0].matches == ()
        again = check_alerts(engine, ["coop"], since="2000-01-01", cutoff=CUT)[0]
        assert [m.id for m in again.matches] == ["iraq"] and again.new == ()
        assert check_alerts(engine, ["coop"], since="2999-01-01", cutoff=CUT)[0].matches == ()


def test_an_article_that_starts_to_match_after_an_update_is_new(built_index, corpus_dir):
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
    (corpus_dir / "wheat.txt").write_text(IRAQ.replace("Iraq", "Kansas"))  # the wheat story, rewritten
    build([], built_index, encoder=HashingEncoder())
    with open_engine(built_index) as engine:
        assert [m.id for m in check_alerts(engine, cutoff=CUT)[0].matches] == ["wheat"]


def test_watchlist_survives_a_rebuild(built_index, corpus_dir):
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
    build([], built_index, encoder=HashingEncoder(), rebuild=True)
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([], built_index, encoder=HashingEncoder())
    assert [s.name for s in Watchlist(built_index).searches()] == ["coop"]
    with open_engine(built_index) as engine:
        assert [m.id for m in check_alerts(engine, cutoff=CUT)[0].matches] == ["iraq"]


def concurrent_checks_list_an_entry_once(location: Path | str, corpus_dir: Path, threads: int) -> None:
    """`threads` threads each save a search and check "coop" at once, after an update brought
    one new match: every save lands and the match is listed exactly once. For any location."""
    errors: list[BaseException] = []
    listed: list[str] = []
    with open_engine(location) as engine:
        add_search(engine, "coop", "military cooperation", cutoff=CUT)
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([], location, encoder=HashingEncoder())
    barrier = threading.Barrier(threads)

    def work(number: int) -> None:
        try:
            with open_engine(location) as engine:
                barrier.wait()
                add_search(engine, f"s{number}", "navy exercise")
                listed.extend(m.id for m in check_alerts(engine, ["coop"], cutoff=CUT)[0].matches)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    running = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    assert errors == []
    assert len(Watchlist(location).searches()) == threads + 1
    assert listed == ["iraq"]


def test_concurrent_threads_add_and_check(built_index, corpus_dir):
    concurrent_checks_list_an_entry_once(built_index, corpus_dir, 8)


def test_first_saves_to_a_new_watchlist_at_once_all_land(tmp_path):
    # The first writes to a new file all ask SQLite for WAL mode; it answered all but one
    # "database is locked" at once, whatever the busy timeout (a 503 from `accord serve`).
    errors: list[BaseException] = []
    for trial in range(100):  # 4 of 60 such rounds failed before the fix
        watchlist = Watchlist(tmp_path / f"ix{trial}")
        barrier = threading.Barrier(8)

        def save(number: int, watchlist: Watchlist = watchlist, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait()
                watchlist.add(f"s{number}", "navy exercise", Filters(), None, [])
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        running = [threading.Thread(target=save, args=(n,)) for n in range(8)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
        assert errors == [], (trial, errors[:1])
        assert len(watchlist.searches()) == 8


def _add_in_process(index_dir: str, number: int) -> None:
    watchlist = Watchlist(index_dir)
    for step in range(5):
        watchlist.add(f"p{number}-{step}", "navy exercise", Filters(), None, [f"a{step}"])
        watchlist.record(f"p{number}-{step}", [f"a{step}", "b"])


def test_concurrent_processes_add(tmp_path):
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_add_in_process, args=(str(tmp_path), n)) for n in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    watchlist = Watchlist(tmp_path)
    assert len(watchlist.searches()) == 20
    assert watchlist.entered_since("p3-4", "2000") == ["b"]


def test_exec_receives_the_new_matches_as_json(built_index, corpus_dir, tmp_path):
    received = tmp_path / "received.json"
    script = f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"
    command = shlex.join([sys.executable, "-c", script])
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", exec=command, cutoff=CUT)
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([], built_index, encoder=HashingEncoder())
    with open_engine(built_index) as engine:
        alert = check_alerts(engine, cutoff=CUT)[0]
    ran = notify(alert)
    assert ran is not None and ran.returncode == 0
    payload = json.loads(received.read_text())
    assert payload["name"] == "coop" and [m["id"] for m in payload["matches"]] == ["iraq"]
    assert payload["matches"][0]["countries"] == ["Iraq", "Russia"]


def test_exec_failure_is_reported_not_raised(built_index, corpus_dir):
    with open_engine(built_index) as engine:
        add_search(engine, "coop", "military cooperation", exec="accord-no-such-command --x", cutoff=CUT)
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    build([], built_index, encoder=HashingEncoder())
    with open_engine(built_index) as engine:
        ran = notify(check_alerts(engine, cutoff=CUT)[0])
    assert ran.returncode == 127 and "not found" in ran.stderr


def test_watcher_reports_searches_that_gained_matches(tmp_path, corpus_dir):
    from index.pipeline.watch import watch
    index_dir = tmp_path / "ix"
    build([corpus_dir], index_dir, encoder=HashingEncoder())
    with open_engine(index_dir) as engine:
        add_search(engine, "coop", "Russia Iraq military cooperation agreement")
        add_search(engine, "wheat", "wheat harvest")
    stop, gained, batches = threading.Event(), [], []
    thread = threading.Thread(
        target=watch,
        args=(corpus_dir, index_dir, lambda report, _s: batches.append(report)),
        kwargs={
            "encoder": HashingEncoder(), "debounce_ms": 100, "settle_seconds": 0.2, "stop": stop,
            "after_batch": lambda _report: gained.extend(check_after_update(index_dir, HashingEncoder())),
        },
    )
    thread.start()
    try:
        deadline = time.time() + 20
        while not batches and time.time() < deadline:
            time.sleep(0.05)
        (corpus_dir / "iraq.txt").write_text(IRAQ)
        while not gained and time.time() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [(alert.search.name, [m.id for m in alert.new]) for alert, _ran in gained] == [("coop", ["iraq"])]
    # The watcher logged the entry without acknowledging it: the analyst's next check lists it.
    with open_engine(index_dir) as engine:
        assert [m.id for m in check_alerts(engine, ["coop"])[0].matches] == ["iraq"]
