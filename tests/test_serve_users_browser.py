"""Two analysts' saved searches on the page, in a real browser (Debian's headless chromium driven
by Playwright, as `test_serve_browser.py`), against a real server with named tokens
(`accord serve --tokens-file`) on 127.0.0.1.

Alice and Bob each open the page with their own token (a cookie each, in browser contexts of
their own) and save a search called "libya": names are per owner. Alice ticks "share with the
team", Bob does not. Each list shows every search's owner ("yours" or "by alice") and a
"shared" tag; Bob sees Alice's shared search without a remove button and opens it; Alice does
not see Bob's. Screenshots go to runs/test-artefacts/serve-browser/users-*/ and must not be blank.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.test_serve_browser import Served, Walk, browser  # noqa: F401 - browser is a fixture
from tests.test_serve_users import ALICE, BOB, TOKENS
from tests.test_serve_watchlist import QUERY, Running, run_server


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Running]:
    yield from run_server(tmp_path, token=TOKENS)  # type: ignore[arg-type]


def _open(browser, team: Running, token: str, name: str) -> Walk:  # noqa: F811
    walk = Walk(browser, Served(team.url, team.folder, []), name)
    walk.page.goto(f"{team.url}/?token={token}")  # the server sets the cookie and drops the token from the address
    walk.settled()
    walk.page.goto(f"{team.url}/?q={quote(QUERY)}")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0 && !document.getElementById('save-form').hidden")
    return walk


def _listed(walk: Walk) -> list[tuple[str, str, bool, bool]]:
    """The saved-searches panel: each item's ref, its owner line, a shared tag, a remove button."""
    items = walk.page.eval_on_selector_all("#saved-list li", """items => items.map(i => [
        i.dataset.name, i.querySelector('.saved-owner').firstChild ? i.querySelector('.saved-owner').firstChild.textContent : '',
        i.querySelector('.shared-tag') !== null, i.querySelector('button.remove') !== null])""")
    return [tuple(item) for item in items]


def _save(walk: Walk, name: str, shared: bool, ref: str) -> None:
    page = walk.page
    assert page.is_visible("#save-shared-label")  # named users may share
    page.fill("#save-name", name)
    if shared:
        page.check("#save-shared")
    page.click("#save-form button[type=submit]")
    walk.wait_for_view(f"new URLSearchParams(location.search).get('watch') === {json.dumps(ref)} && "
                       f"[...document.querySelectorAll('#saved-list li.current')].some(li => li.dataset.name === {json.dumps(ref)})")
    assert not page.is_checked("#save-shared")  # unticked for the next one


def test_two_analysts_save_libya_and_one_shares_it(browser, team: Running) -> None:  # noqa: F811
    alice = _open(browser, team, ALICE, "users-alice")
    _save(alice, "libya", shared=True, ref="alice/libya")
    assert _listed(alice) == [("alice/libya", "yours", True, True)]
    alice.shot("01-alice-saved-and-shared")

    bob = _open(browser, team, BOB, "users-bob")
    assert _listed(bob) == [("alice/libya", "by alice", True, False)]  # shared with him, not his to remove
    _save(bob, "libya", shared=False, ref="bob/libya")
    assert _listed(bob) == [("alice/libya", "by alice", True, False), ("bob/libya", "yours", False, True)]
    bob.shot("02-bob-sees-both")

    # Bob opens Alice's search from the list: the page watches it by its ref.
    bob.page.click("#saved-list li[data-name='alice/libya'] a")
    bob.wait_for_view("new URLSearchParams(location.search).get('watch') === 'alice/libya' && "
                      "!document.getElementById('alert-box').hidden")
    assert "0 new matches" in bob.page.inner_text("#alert-box")

    # Alice does not see Bob's unshared search; the start page shows owners too.
    alice.page.reload()
    alice.wait_for_view("document.querySelectorAll('#saved-list li').length === 1")
    assert _listed(alice) == [("alice/libya", "yours", True, True)]
    alice.page.goto(team.url + "/")
    alice.wait_for_view("document.querySelectorAll('#home-saved li[data-name]').length === 1")
    assert "yours" in alice.page.inner_text("#home-saved li[data-name='alice/libya']")
    alice.shot("03-alice-start-page")
    alice.close()
    bob.close()


def test_without_named_tokens_there_is_no_share_box(browser, tmp_path: Path) -> None:  # noqa: F811
    """On a server without named tokens every search is everyone's: nothing to share."""
    for running in run_server(tmp_path):
        walk = Walk(browser, Served(running.url, running.folder, []), "users-unnamed")
        walk.page.goto(f"{running.url}/?q={quote(QUERY)}")
        walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0 && !document.getElementById('save-form').hidden")
        walk.settled()
        assert walk.page.is_hidden("#save-shared-label")
        walk.page.fill("#save-name", "libya")
        walk.page.click("#save-form button[type=submit]")
        walk.wait_for_view("document.querySelector('#saved-list li.current[data-name=\"libya\"]') !== null")
        assert _listed(walk) == [("libya", "", False, True)]
        walk.close()
