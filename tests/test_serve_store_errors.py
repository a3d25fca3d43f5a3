"""Store faults reach API clients as the documented JSON errors with a fitting status, not 500."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from index.pipeline.builder import build
from index.storage.watchlist import WATCHLIST_FILE
from search.web.app import create_app
from tests.conftest import HashingEncoder
from tests.test_serve_api import LOCAL, assert_error


def test_a_watchlist_that_cannot_be_read_is_a_503_naming_the_file(tmp_path: Path, corpus_dir: Path) -> None:
    encoder = HashingEncoder()
    index_dir = tmp_path / "ix"
    build([corpus_dir], index_dir, encoder=encoder)
    (index_dir / WATCHLIST_FILE).mkdir()  # where SQLite expects its file: it cannot open it
    client = TestClient(create_app(index_dir, encoder=encoder), base_url=LOCAL)
    assert_error(client.get("/api/watchlist"), 503, WATCHLIST_FILE)
