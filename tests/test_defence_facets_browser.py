"""The page's defence-fact facets in a real browser: Debian's headless chromium, driven by
Playwright, against a real uvicorn server on 127.0.0.1 over the seeds with the fake encoder.

The walk: search "military-technical cooperation", see the organisations, people and kinds of
cooperation among the facets, click the organisation Rosoboronexport and see only the Libya
article with the filter in the address and as a removable chip, and the timeline counting it
alone; remove the chip and see every match again. Screenshots go to runs/test-artefacts/serve-browser/ (not committed).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import HashingEncoder
from tests.test_serve_browser import Served, Walk, browser, serve  # noqa: F401 - browser is a fixture

LIBYA = "004_8790f98fbe18f818"
QUERY = "military-technical cooperation"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, HashingEncoder())


def test_an_organisation_facet_narrows_the_search(browser, served):  # noqa: F811 - the fixture
    walk = Walk(browser, served, "defence-facets")
    page = walk.page
    walk.search_from_start(QUERY)
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 1")
    everything = walk.hits()
    assert LIBYA in everything and len(everything) > 1, everything
    headings = page.eval_on_selector_all("aside#facets h3", "hs => hs.map(h => h.textContent)")
    assert {"Organisations", "People", "Kinds of cooperation"} <= set(headings), headings
    walk.shot("facets-01-search")

    page.click("aside button.facet[data-value='Rosoboronexport']")
    walk.wait_for_view("location.search.includes('org=Rosoboronexport') && document.querySelectorAll('#results li.hit').length === 1")
    assert walk.hits() == [LIBYA]
    assert parse_qs(urlsplit(page.url).query)["org"] == ["Rosoboronexport"]
    assert page.inner_text("#filters").startswith("org: Rosoboronexport")
    # The timeline and pairs count the narrowed search too (their routes take the filter).
    walk.wait_for_view("document.getElementById('view-rule-text').textContent.startsWith('Chart and pairs count 1 article:')")
    walk.shot("facets-02-organisation")

    # The address alone shows the same narrowed search (a shared link, a reload).
    page.reload()
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length === 1")
    assert walk.hits() == [LIBYA]

    page.click("#filters button[aria-label='remove org Rosoboronexport']")
    walk.wait_for_view(f"!location.search.includes('org=') && document.querySelectorAll('#results li.hit').length === {len(everything)}")
    assert page.inner_text("#filters").strip() == ""
    walk.close()
