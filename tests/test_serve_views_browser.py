"""The analyst views on the page in a real browser (Debian's headless chromium driven by
Playwright, as `test_serve_browser.py`), against a real server on 127.0.0.1 over the seeds built
with the fake encoder (keyword ranking on the page); the `real_model` variant walks the same way
with all-MiniLM-L6-v2 and hybrid ranking (the seeds give the same matches and pairs with both).

The walk: search "Russia military cooperation"; see the timeline chart drawn (per year: the
matches span 2012-2019) with the undated matches said apart, and switch it to per month; open
the country pairs view and click the Lebanon-Russia cell: the search is filtered by both
countries, visibly, and a filter can be removed; save the search; index a new article through
the builder, reload, and see it marked as new; mark it as seen; remove the saved search from
the home page. Screenshots go to
runs/test-artefacts/serve-browser/views/ and must not be blank.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.test_serve_browser import Served, Walk, assert_not_blank, browser  # noqa: F401 - browser is a fixture
from tests.test_serve_watchlist import NEW_ARTICLE, QUERY, Running, run_server

LEBANON = {"000_9cda39b006e06f4e", "001_27c966cdbbb593df"}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path)


@pytest.fixture
def real_running(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path, model="real")


def hit_ids(walk: Walk) -> list[str]:
    return walk.page.eval_on_selector_all("#results > li.hit", "items => items.map(i => i.dataset.id)")


def walk_through_views(browser, running: Running, name: str, mode: str) -> None:  # noqa: F811
    walk = Walk(browser, Served(running.url, running.folder, []), name)
    page = walk.page
    page.goto(running.url + "/")
    walk.settled()

    # Search.
    page.fill("#q", QUERY)
    page.select_option("#mode", mode)
    page.press("#q", "Enter")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0 && !document.getElementById('chart-box').hidden")
    assert len(hit_ids(walk)) == 5

    # The timeline: 5 matches, 3 of them undated; 2012-08 to 2019-10 is drawn per year.
    caption = page.inner_text("#chart-caption")
    assert caption == "Matches per year: 5 matches, 3 undated (not in the chart)", caption
    bars = page.evaluate("Chart.getChart('chart').data")
    assert bars["labels"] == [str(year) for year in range(2012, 2020)]
    assert bars["datasets"][0]["data"] == [1, 0, 0, 0, 0, 0, 0, 1]
    chart_shot = walk.folder / "01-timeline-chart.png"
    page.locator("#chart-box").screenshot(path=str(chart_shot))
    assert_not_blank(chart_shot)
    page.click("#chart-toggle")
    walk.wait_for_view("location.search.includes('by=month') && Chart.getChart('chart') && Chart.getChart('chart').data.labels.length > 12")
    months = page.evaluate("Chart.getChart('chart').data.labels")
    assert months[0] == "2012-08" and months[-1] == "2019-10" and len(months) == 87
    assert page.inner_text("#chart-caption").startswith("Matches per month: 5 matches, 3 undated")
    walk.shot("02-timeline-per-month")

    # The pairs view: a matrix and a list; Lebanon-Russia has two articles.
    page.click("#pairs-tab")
    walk.wait_for_view("!document.getElementById('pairs-view').hidden && document.querySelectorAll('#pairs-matrix button.cell').length > 0")
    assert "view=pairs" in page.url
    assert page.is_hidden("#results")
    first = page.inner_text("#pairs-list > li:first-child")
    assert first.startswith("Lebanon – Russia 2 articles"), first
    cells = page.eval_on_selector_all("#pairs-matrix button.cell", "cells => cells.map(c => [c.dataset.pair, c.textContent])")
    assert ["Lebanon|Russia", "2"] in cells and ["Iran|Russia", "1"] in cells
    walk.shot("03-pairs")
    page.click("#pairs-matrix button.cell[data-pair='Lebanon|Russia']")
    walk.wait_for_view("location.search.includes('country=Lebanon') && location.search.includes('country=Russia')"
                       " && !document.getElementById('results').hidden && document.getElementById('pairs-view').hidden")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length === 2")
    assert set(hit_ids(walk)) == LEBANON
    chips = page.eval_on_selector_all("#filters li", "items => items.map(i => i.firstChild.textContent)")
    assert chips == ["country: Lebanon", "country: Russia"]
    walk.shot("04-pair-filtered")

    # A filter the pair added can be removed: the search widens again.
    page.click("#filters button[aria-label='remove country Lebanon']")
    walk.wait_for_view("!location.search.includes('country=Lebanon') && document.querySelectorAll('#results li.hit').length === 5")
    assert page.eval_on_selector_all("#filters li", "items => items.map(i => i.firstChild.textContent)") == ["country: Russia"]

    # Save the search; the page now watches it, with nothing new yet.
    page.fill("#save-name", "russia coop")
    page.click("#save-form button[type=submit]")
    walk.wait_for_view("location.search.includes('watch=russia+coop') && !document.getElementById('alert-box').hidden")
    assert page.inner_text("#saved-list").startswith("russia coop")
    assert "0 new matches" in page.inner_text("#alert-box")
    assert page.query_selector("#results li.hit.new") is None
    page.fill("#save-name", "russia coop")  # a taken name: the panel says so
    page.click("#save-form button[type=submit]")
    walk.wait_for_view("!document.getElementById('save-error').hidden")
    assert "exists" in page.inner_text("#save-error")
    assert walk.problems == ["Failed to load resource: the server responded with a status of 409 (Conflict)"]
    walk.problems.clear()  # the browser logs the refused request; the page said why

    # An article indexed by the builder while the page is open is marked new after a reload.
    running.add_article("serbia.txt", NEW_ARTICLE)
    page.reload()
    walk.wait_for_view("document.querySelector(\"#results li.hit[data-id='serbia']\") !== null")
    assert page.eval_on_selector_all("#results li.hit.new", "items => items.map(i => i.dataset.id)") == ["serbia"]
    assert page.inner_text("#results li.hit.new .badge-new") == "NEW"  # text-transform: uppercase
    assert "1 new match since" in page.inner_text("#alert-box")
    assert page.eval_on_selector_all("#alert-box li", "items => items.map(i => i.dataset.id)") == ["serbia"]
    walk.shot("05-new-match-marked")

    # Opening the saved search from the list keeps it watched; marking as seen clears the marks.
    page.click("#saved-list a")
    walk.wait_for_view("document.querySelectorAll('#results li.hit.new').length === 1")
    page.click("#mark-seen")
    walk.wait_for_view("document.getElementById('alert-box').textContent.includes('0 new matches')")
    assert page.query_selector("#results li.hit.new") is None
    walk.shot("06-marked-as-seen")

    # The start page lists the saved searches; × removes one (a DELETE from the page).
    page.goto(running.url + "/")
    walk.wait_for_view("document.querySelectorAll('#home-saved li[data-name]').length === 1")
    assert "open a saved search" in page.inner_text("#status")
    assert page.is_hidden("#save-form") and page.is_hidden("#chart-box") and page.is_hidden("#view-tabs")  # no query yet
    page.click("#home-saved button[aria-label='remove saved search russia coop']")
    walk.wait_for_view("document.querySelectorAll('#home-saved li[data-name]').length === 0 && document.getElementById('results-view').hidden")
    with httpx.Client(base_url=running.url) as client:
        assert client.get("/api/watchlist").json() == {"searches": [], "user": None}
    walk.close()


def test_views_that_need_the_model_say_so_in_place(browser, tmp_path: Path) -> None:  # noqa: F811
    """On an index of a model this server lacks, a keyword search still shows its results; the
    timeline and the pairs (which rank with the model) say why they are missing."""

    with contextmanager(run_server)(tmp_path, model="unregistered") as running:
        walk = Walk(browser, Served(running.url, running.folder, []), "views-no-model")
        page = walk.page
        page.goto(f"{running.url}/?q=military+cooperation&mode=keyword")
        walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0 && !document.getElementById('chart-box').hidden")
        assert page.inner_text("#chart-caption").startswith("No timeline: ") and "test/not-registered" in page.inner_text("#chart-caption")
        assert page.is_hidden("#chart-frame") and page.is_hidden("#error")
        page.click("#pairs-tab")
        walk.wait_for_view("document.getElementById('pairs-summary').textContent.startsWith('No country pairs: ')")
        assert page.is_hidden(".matrix-frame")
        walk.shot("01-keyword-only")
        # The browser logs each failed view request as a console error; nothing else may be there.
        walk.problems[:] = [problem for problem in walk.problems if "status of 503" not in problem]
        walk.close()


def test_views_walk_fake_encoder(browser, running: Running) -> None:  # noqa: F811
    walk_through_views(browser, running, "views", "keyword")


@pytest.mark.real_model
def test_views_walk_real_model(browser, real_running: Running) -> None:  # noqa: F811
    walk_through_views(browser, real_running, "views-real-hybrid", "hybrid")
