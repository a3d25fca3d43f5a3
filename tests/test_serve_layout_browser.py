"""The analysts' page at a phone's and a laptop's size, its start page, its article page and its
weak-match label, in a real browser (Debian's chromium through Playwright, as
tests/test_serve_browser.py drives it) against a real server on 127.0.0.1 over the seeds, with
the fake encoder and the default hybrid ranking.

Layout is checked by measuring element boxes: at 390x844 (a phone) and 1280x800 (a laptop) no
block overlaps another, nothing is wider than the window, and on the phone the results take at
least 90% of its width. Screenshots go to runs/test-artefacts/serve-browser/layout/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import HashingEncoder
from tests.test_serve_browser import Served, Walk, browser, serve  # noqa: F401 - browser is a fixture

SIZES = {"phone": (390, 844), "laptop": (1280, 800)}
ON_TOPIC = "military cooperation"
UNRELATED = "chocolate cake baking"
IRAN = "003_2b9cbe42a2e4ca54"
NEW_ARTICLE = (
    "Serbia and Russia extend military cooperation\n"
    "BELGRADE, 2020-03-02 - Serbia and Russia agreed to extend their military cooperation with joint drills.\n"
)

# Boxes of the page's blocks that must not overlap, each [left, top, right, bottom] or null when hidden.
BOXES = """() => {
  const box = (selector) => {
    const node = document.querySelector(selector);
    if (!node || node.offsetParent === null) return null;
    const r = node.getBoundingClientRect();
    return [r.left, r.top + window.scrollY, r.right, r.bottom + window.scrollY];
  };
  return {
    header: box("header"), results: box("#results"), side: box(".side"), chart: box("#chart-box"),
    tools: box("#result-tools"), note: box("#match-note"), rule: box("#view-rule"),
    width: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
  };
}"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, HashingEncoder())


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def open_at(browser, served: Served, name: str, size: tuple[int, int]) -> Walk:  # noqa: F811 - the fixture
    walk = Walk(browser, served, name)
    walk.context.close()
    walk.context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    walk.page = walk.context.new_page()
    walk.page.on("request", lambda request: walk.requests.append(request.url))
    walk.page.on("console", lambda message: message.type == "error" and walk.problems.append(message.text))
    walk.page.on("pageerror", lambda error: walk.problems.append(str(error)))
    return walk


@pytest.mark.parametrize("size", sorted(SIZES))
def test_results_fit_the_window_without_overlap(browser, served: Served, size: str) -> None:  # noqa: F811
    width, height = SIZES[size]
    walk = open_at(browser, served, f"layout/{size}", (width, height))
    page = walk.page
    page.goto(f"{served.url}/?q=military+cooperation")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0 && !document.getElementById('chart-box').hidden")
    boxes = page.evaluate(BOXES)
    assert boxes["scrollWidth"] <= boxes["width"], f"the page is wider than the window: {boxes}"
    shown = {name: box for name, box in boxes.items() if isinstance(box, list)}
    for name, box in shown.items():
        assert box[0] >= 0 and box[2] <= width + 0.5, f"{name} leaves the window: {box}"
    names = sorted(shown)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not overlap(shown[first], shown[second]), f"{first} {shown[first]} overlaps {second} {shown[second]}"
    results = shown["results"]
    if size == "phone":
        assert results[2] - results[0] >= 0.9 * width, f"results take {results[2] - results[0]:.0f} of {width} px"
        assert shown["side"][1] >= results[3]  # the side panel goes below the results
    else:
        assert shown["side"][0] >= results[2] and shown["side"][1] < results[3]  # beside them
    walk.shot("01-results")
    walk.close()


def test_an_unrelated_query_is_labelled_weak(browser, served: Served) -> None:  # noqa: F811
    walk = Walk(browser, served, "layout/weak")
    page = walk.page
    page.goto(f"{served.url}/?q=chocolate+cake+baking")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0")
    assert page.is_visible("#match-note")
    assert page.inner_text("#match-note").startswith("Weak match — nothing here matches the query well")
    assert "match 0." in page.inner_text("#results li.hit .meta")  # each hit's cosine
    walk.shot("01-weak")
    page.fill("#q", ON_TOPIC)
    page.press("#q", "Enter")
    # The weak query's hits are still on the page until the new answer is drawn: wait for the
    # new answer itself (its first hit holds the query's words), then for the label to go.
    walk.wait_for_view("location.search.includes('military') && [...document.querySelectorAll('#results li.hit')]"
                       ".some(hit => hit.innerText.toLowerCase().includes('military'))")
    walk.settled()
    page.wait_for_selector("#match-note", state="hidden")
    walk.close()


def test_start_page_shows_size_newest_and_new_matches(browser, served: Served) -> None:  # noqa: F811
    with httpx.Client(base_url=served.url) as client:
        assert client.post("/api/watchlist", json={"name": "serbia watch", "query": "Serbia Russia military cooperation"}).status_code == 201
        (served.folder / "serbia.txt").write_text(NEW_ARTICLE)
        deadline = time.monotonic() + 90
        while not client.get("/api/newest", params={"k": 1}).json()["articles"][0]["id"] == "serbia":
            assert time.monotonic() < deadline, f"the new file was not indexed in 90 s: {served.log}"
            time.sleep(0.3)
    for size, (width, height) in SIZES.items():
        walk = open_at(browser, served, f"layout/start-{size}", (width, height))
        page = walk.page
        page.goto(served.url + "/")
        walk.wait_for_view("!document.getElementById('home-view').hidden && document.querySelectorAll('#newest li').length > 0")
        walk.settled()
        assert page.inner_text("#index-size").startswith("6 articles in ")
        newest = page.eval_on_selector_all("#newest li", "items => items.map(i => i.dataset.id)")
        assert newest[0] == "serbia" and len(newest) == 3  # the dated ones: three seeds say no date
        dates = page.eval_on_selector_all("#newest li .meta", "items => items.map(i => i.textContent.trim().slice(0, 10))")
        assert dates == sorted(dates, reverse=True)
        assert page.inner_text("#home-saved li[data-name='serbia watch']").startswith("serbia watch 1 new")
        boxes = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert boxes[0] <= boxes[1]
        walk.shot("01-start")
        walk.close()


def test_article_page_has_similar_articles_filters_and_source(browser, served: Served) -> None:  # noqa: F811
    walk = Walk(browser, served, "layout/article")
    page = walk.page
    page.goto(f"{served.url}/?q=military+cooperation&article={IRAN}")
    walk.wait_for_view("!document.getElementById('article-view').hidden && document.querySelectorAll('#similar-list li').length > 0")
    similar = page.eval_on_selector_all("#similar-list li", "items => items.map(i => i.dataset.id)")
    assert IRAN not in similar and len(similar) == 4
    assert page.is_visible("#article-source") and page.inner_text("#article-source").startswith("source: ")
    countries = page.eval_on_selector_all("#article-filters a[data-country]", "links => links.map(a => a.dataset.country)")
    assert set(countries) == {"Russia", "Iran"}
    walk.shot("01-article")
    page.click("#article-filters a[data-country='Iran']")
    walk.wait_for_view("location.search.includes('country=Iran') && !document.getElementById('results-view').hidden")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0")
    assert walk.hits() == [IRAN]
    assert "q=military+cooperation" in page.url
    page.go_back()
    walk.wait_for_view("!document.getElementById('article-view').hidden")
    page.click(f"#similar-list li[data-id='{similar[0]}'] a")
    walk.wait_for_view(f"location.search.includes('article={similar[0]}') && document.getElementById('article-title').textContent.length > 0")
    walk.settled()
    walk.close()
