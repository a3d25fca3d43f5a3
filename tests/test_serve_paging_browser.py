"""Paging and export on the analysts' page in a real browser (Debian's chromium through Playwright,
as tests/test_serve_browser.py drives it), against a real server on 127.0.0.1 over the seeds.

The walk: open a shared address with two hits per page, step Next to the last page and Previous
back, with the page number kept in the address and no hit shown twice; then download the result
set through the Export link and find every hit of the pages in it, in their order.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import HashingEncoder
from tests.test_serve_browser import Served, Walk, browser, serve  # noqa: F401 - browser is a fixture

QUERY = "military cooperation"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, HashingEncoder())


def address(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def test_next_previous_and_export(browser, served: Served) -> None:  # noqa: F811 - the fixture
    walk = Walk(browser, served, "paging")
    page = walk.page
    page.goto(f"{served.url}/?q=military+cooperation&mode=keyword&k=2")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0")
    first = walk.hits()
    assert len(first) == 2
    assert page.inner_text("#page-info").startswith("hits 1-2 of ")
    assert not page.query_selector("#prev-page")
    walk.shot("01-page-1")

    pages = [first]
    while page.query_selector("#next-page"):
        before = page.url
        page.click("#next-page")
        walk.wait_for_view(f"location.href !== {before!r} && document.getElementById('page-info')"
                           f".textContent.startsWith('hits {2 * len(pages) + 1}-')")
        pages.append(walk.hits())
        assert address(page)["page"] == [str(len(pages))] and address(page)["k"] == ["2"]
        assert address(page)["q"] == [QUERY] and address(page)["mode"] == ["keyword"]
    shown = [hit for hits in pages for hit in hits]
    total = int(page.inner_text("#page-info").rsplit(" ", 1)[1])
    assert len(pages) >= 3 and len(shown) == len(set(shown)) == total
    walk.shot("02-last-page")

    page.click("#prev-page")
    walk.wait_for_view(f"document.getElementById('page-info').textContent.startsWith('hits {2 * len(pages) - 3}-')")
    assert walk.hits() == pages[-2] and address(page)["page"] == [str(len(pages) - 1)]
    page.go_back()  # the address history holds the pages too
    walk.wait_for_view(f"document.getElementById('page-info').textContent.startsWith('hits {2 * len(pages) - 1}-')")
    assert walk.hits() == pages[-1]

    assert page.is_visible("#export")
    with page.expect_download() as download_info:
        page.click("#export")
    download = download_info.value
    assert download.suggested_filename == "accord-military-cooperation.csv"
    saved = walk.folder / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert [row["id"] for row in rows] == shown
    walk.close()
