"""The analysts' page in a real browser: Debian's headless chromium, driven by Playwright, against
a real uvicorn server on 127.0.0.1 (`search.web.server.Server` with the watchers of
`index.pipeline.follow`, as `accord serve --watch` runs them) over the seeds.

The walk: type "military-technical cooperation Libya", see the Libya article first with the
query terms marked, click the country facet Iran and see only Iran articles, open an article,
follow "more like this", go back, load a shared address; meanwhile a new file dropped into the
watched folder (an article full of markup) is found by searching again and shows as text.
Screenshots of each step go to runs/test-artefacts/serve-browser/ (not committed) and must not
be blank. With the fake encoder the walk uses keyword ranking; the `real_model` variant uses
the default hybrid ranking with all-MiniLM-L6-v2.

Chromium must be installed (`apt-get install chromium`; `.ci/run` does it): without it these
tests fail, they do not skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from index.pipeline.follow import Followers
from search.web.server import Server
from tests.conftest import SEEDS, HashingEncoder, server_running

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARTEFACTS = Path(os.environ.get("ACCORD_TEST_ARTEFACTS", REPO / "runs" / "test-artefacts")) / "serve-browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
QUERY = "military-technical cooperation Libya"
LIBYA = "004_8790f98fbe18f818"
IRAN = "003_2b9cbe42a2e4ca54"
XSS_FILE = (
    "Quuxland buys patrol boats <script>window.xssFired = 1</script>\n"
    'Quuxland signed a contract for six patrol boats. <img src=x onerror="window.xssFired = 2"> '
    "The navy of Quuxland will operate the boats from 2027.\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Served:
    """A running server, its watched folder and what it logged."""

    def __init__(self, url: str, folder: Path, log: list[str]) -> None:
        self.url, self.folder, self.log = url, folder, log


def serve(tmp_path: Path, encoder: HashingEncoder | None) -> Iterator[Served]:
    folder = tmp_path / "watched"
    shutil.copytree(SEEDS, folder)
    log: list[str] = []
    port = free_port()
    followers = Followers([folder], tmp_path / "index", log.append, encoder=encoder)  # what `--watch` runs
    server = Server(tmp_path / "index", host="127.0.0.1", port=port, encoder=encoder, background=followers)
    with server_running(server, "accord-serve-test", log=log):
        yield Served(f"http://127.0.0.1:{port}", folder, log)


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, HashingEncoder())


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[Served]:
    yield from serve(tmp_path, None)


def assert_not_blank(path: Path) -> None:
    """A screenshot with real content: many colours, not one flat fill."""
    from PIL import Image

    with Image.open(path) as image:
        grey = image.convert("L")
        low, high = grey.getextrema()
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert high - low > 100 and len(colours) > 50, f"{path} looks blank ({len(colours)} colours, grey {low}-{high})"


class Walk:
    """One browser page on the server, with a screenshot per step and a record of what it loaded."""

    def __init__(self, browser, served: Served, name: str) -> None:
        self.served = served
        self.folder = ARTEFACTS / name
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("console", lambda message: message.type == "error" and self.problems.append(message.text))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))

    def shot(self, step: str) -> Path:
        path = self.folder / f"{step}.png"
        self.page.screenshot(path=str(path))
        assert_not_blank(path)
        return path

    def hits(self) -> list[str]:
        self.page.wait_for_selector("#results li.hit")
        return self.page.eval_on_selector_all("#results > li.hit", "items => items.map(i => i.dataset.id)")

    def wait_for_view(self, predicate: str, timeout: float = 20.0) -> None:
        """Poll a JavaScript expression until it is true. (Playwright's wait_for_function compiles
        its predicate in the page, which the page's CSP rightly forbids; evaluate goes through
        the DevTools protocol instead.)"""
        deadline = time.monotonic() + timeout
        while not self.page.evaluate(predicate):
            assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
            time.sleep(0.05)

    def settled(self) -> None:
        """Wait until the page has rendered the state in its address (the status line is set last)."""
        self.wait_for_view("document.getElementById('status').textContent.length > 0")

    def search_from_start(self, query: str, mode: str = "keyword") -> None:
        """Open the start page, type `query`, pick `mode` and press Enter in the search box."""
        self.page.goto(self.served.url + "/")
        self.settled()
        self.page.fill("#q", query)
        self.page.select_option("#mode", mode)
        self.page.focus("#q")
        self.page.keyboard.press("Enter")

    def close(self) -> None:
        origin = self.served.url
        foreign = [url for url in self.requests if not url.startswith(origin + "/")]
        assert foreign == [], f"requests to other origins: {foreign}"
        assert self.problems == [], f"console errors (CSP violations among them): {self.problems}"
        self.context.close()


def walk_through(browser, served: Served, name: str, mode: str) -> None:
    walk = Walk(browser, served, name)
    page = walk.page
    page.goto(served.url + "/")
    walk.settled()

    # "/" focuses the search box; Enter searches.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type(QUERY)
    page.select_option("#mode", mode)
    page.focus("#q")
    page.keyboard.press("Enter")
    walk.wait_for_view("document.querySelectorAll('#results li.hit').length > 0")
    hits = walk.hits()
    assert hits[0] == LIBYA, hits
    marked = page.eval_on_selector_all(f"li.hit[data-id='{LIBYA}'] .snippet mark", "marks => marks.map(m => m.textContent.toLowerCase())")
    assert {"libya", "cooperation"} <= set(marked), marked
    assert page.is_visible("#chart-box") and page.is_visible("aside#facets")
    query = parse_qs(urlsplit(page.url).query)
    assert query["q"] == [QUERY]
    walk.shot("01-search")

    # A country facet adds a filter: only Iran articles remain.
    page.click("aside button.facet[data-value='Iran']")
    walk.wait_for_view("location.search.includes('country=Iran') && !document.getElementById('results-view').hidden")
    walk.wait_for_view("[...document.querySelectorAll('#results li.hit .meta')].every(m => m.textContent.includes('Iran'))")
    iran_hits = walk.hits()
    assert iran_hits == [IRAN], iran_hits
    assert page.inner_text("#filters").startswith("country: Iran")
    walk.shot("02-facet-iran")

    # Open the article, then more like this.
    page.click(f"li.hit[data-id='{IRAN}'] h3 a")
    walk.wait_for_view("!document.getElementById('article-view').hidden")
    assert page.inner_text("#article-title") == "Russia, Iran Sign Joint Military Cooperation Agreement"
    assert len(page.inner_text("#article-body")) > 500
    walk.shot("03-article")
    page.click("#more-like-this")
    walk.wait_for_view("location.search.includes('similar=') && !document.getElementById('results-view').hidden")
    assert "country=" not in page.url  # more like this looks everywhere, not only within the filters
    similar = walk.hits()
    assert IRAN not in similar and similar
    assert page.inner_text("#results-heading").startswith("More like: Russia, Iran")
    walk.shot("04-more-like-this")

    # Back goes back through the address history.
    page.go_back()
    walk.wait_for_view("!document.getElementById('article-view').hidden")
    assert "article=" in page.url
    page.go_back()
    walk.wait_for_view("!document.getElementById('results-view').hidden && !location.search.includes('article=')")
    assert walk.hits() == [IRAN]

    # A shared address shows its results in a fresh page, with no clicks.
    shared = walk.context.new_page()
    shared.on("console", lambda message: message.type == "error" and walk.problems.append(message.text))
    shared.goto(f"{served.url}/?q=military+cooperation&country=Iran&mode={mode}")
    shared.wait_for_selector("#results li.hit")
    assert shared.eval_on_selector_all("#results > li.hit", "items => items.map(i => i.dataset.id)") == [IRAN]
    assert shared.input_value("#q") == "military cooperation" and shared.input_value("#mode") == mode
    shared.screenshot(path=str(walk.folder / "05-shared-url.png"))
    assert_not_blank(walk.folder / "05-shared-url.png")
    shared.close()

    # A new file in the watched folder is served while the page searches: markup shows as text.
    (served.folder / "quuxland.txt").write_text(XSS_FILE)
    page.goto(f"{served.url}/?q=Quuxland+patrol+boats&mode={mode}")
    deadline = time.monotonic() + 90
    while not page.query_selector("#results li.hit[data-id='quuxland']"):
        assert time.monotonic() < deadline, f"the watched file was not served in 90 s; server log: {served.log}"
        time.sleep(0.5)
        page.click("button[type=submit]")
        walk.settled()
    assert "gen-000001" not in page.inner_text("#status")
    title = page.inner_text("li.hit[data-id='quuxland'] h3")
    assert title == "Quuxland buys patrol boats <script>window.xssFired = 1</script>"
    page.click("li.hit[data-id='quuxland'] h3 a")
    walk.wait_for_view("!document.getElementById('article-view').hidden")
    assert '<img src=x onerror="window.xssFired = 2">' in page.inner_text("#article-body")
    assert page.evaluate("document.querySelectorAll('main img, main script').length") == 0
    assert page.evaluate("window.xssFired") is None
    walk.shot("06-watched-file-as-text")

    # The API docs: Swagger UI from the vendored files, under the same policy.
    page.goto(served.url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    assert "/api/search" in page.inner_text(".swagger-ui")
    walk.shot("07-docs")
    walk.close()


def test_browser_walk_fake_encoder(browser, fake_server: Served) -> None:
    walk_through(browser, fake_server, "fake-keyword", "keyword")


@pytest.mark.real_model
def test_browser_walk_real_model(browser, real_server: Served) -> None:
    walk_through(browser, real_server, "real-hybrid", "hybrid")
