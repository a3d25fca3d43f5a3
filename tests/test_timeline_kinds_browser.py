"""The timeline's per-kind view in a real browser: Debian's headless chromium, driven by
Playwright, against a real uvicorn server on 127.0.0.1 over the seeds with the fake encoder.

The walk: search "cooperation" by keyword, see under the timeline a row per kind of
cooperation with its count of matches, the same counts as the search's "Kinds of cooperation"
facets (read another way: from the stored entities, not per match) and as the seeds' facts;
click a kind and see the search narrowed to it, its row alone counting every match.
Screenshots go to runs/test-artefacts/serve-browser/ (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import HashingEncoder
from tests.test_serve_browser import Served, Walk, browser, serve  # noqa: F401 - browser is a fixture

QUERY = "cooperation"
ROWS = "[...document.querySelectorAll('#kind-table tr')].map(r => [r.dataset.kind, r.querySelector('td.count').textContent])"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, HashingEncoder())


def test_the_timeline_counts_matches_per_kind(browser, served):  # noqa: F811 - the fixture
    walk = Walk(browser, served, "timeline-kinds")
    page = walk.page
    walk.search_from_start(QUERY)
    walk.wait_for_view("document.querySelectorAll('#kind-table tr').length > 1 && "
                       "document.querySelectorAll('aside#facets button.facet').length > 0")
    shown = {kind: int(count) for kind, count in page.evaluate(ROWS)}
    facets = page.evaluate(
        "[...document.querySelectorAll('aside#facets section')].filter(s => s.querySelector('h3').textContent === "
        "'Kinds of cooperation').flatMap(s => [...s.querySelectorAll('button.facet')]"
        ".map(b => [b.dataset.value, b.querySelector('.count').textContent]))"
    )
    assert {kind: count for kind, count in shown.items() if kind != "none"} == {k: int(n) for k, n in facets}, (shown, facets)
    # What the seeds carry (docs/entities.md): talks in four, an agreement in three, training in
    # the two Lebanon articles, an exercise in the treaty article.
    hits = walk.hits()
    assert len(hits) == 5, hits
    assert shown["visit_talks"] == 4 and shown["agreement"] == 3, shown
    assert shown["training"] == 2 and shown["exercise"] == 1, shown
    # Kinds in KINDS order, each row's bar as wide as its share of the matches.
    assert list(shown) == [k for k in ("arms_sale", "agreement", "exercise", "training", "coproduction",
                                       "military_aid", "visit_talks", "sanctions", "none") if k in shown]
    width = "document.querySelector('#kind-table tr[data-kind=%s] .share-bar').getBoundingClientRect().width"
    talks, exercise = page.evaluate(width % "visit_talks"), page.evaluate(width % "exercise")
    assert exercise > 0 and abs(talks / exercise - 4) < 0.2, (talks, exercise)
    walk.shot("kinds-01-search")

    page.click("#kind-table tr[data-kind='exercise'] a")
    walk.wait_for_view("location.search.includes('kind=exercise') && document.querySelectorAll('#results li.hit').length === 1 && "
                       "document.querySelectorAll('#kind-table tr').length > 0 && "
                       "document.querySelector('#kind-table tr[data-kind=exercise] td.count').textContent === '1'")
    assert parse_qs(urlsplit(page.url).query)["kind"] == ["exercise"]
    narrowed = {kind: int(count) for kind, count in page.evaluate(ROWS)}
    assert narrowed["exercise"] == 1 and set(narrowed) <= set(shown), narrowed
    walk.shot("kinds-02-exercise")
    walk.close()
