"""Shared fixtures: a fake deterministic encoder and a tiny corpus built in tmp_path."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from index.embedding.encoder import EncoderBase, register_encoder
from index.extras import install_command, missing

pytest_plugins = ["tests.postgres_fixtures"]

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
FAKE_MODEL = "test/hashing-bag-of-words"


class HashingEncoder(EncoderBase):
    """A deterministic bag-of-words encoder: each word hashed to one of `dim` axes.

    Texts that share words point the same way, which is enough to test the semantic leg
    without loading a model. `calls` counts the texts it was asked to embed, `texts` keeps them.
    """

    name = FAKE_MODEL
    dim = 64
    max_tokens = 254

    def __init__(self) -> None:
        self.calls = 0
        self.texts: list[str] = []

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += len(texts)
        self.texts += texts
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                axis = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                vectors[row, axis % self.dim] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)


register_encoder(FAKE_MODEL, HashingEncoder)


def requires(part: str) -> pytest.MarkDecorator:
    """Skip what needs an optional part of Accord (index/extras.py) where it is not installed,
    with the install command as the reason; use as a decorator or as a module's `pytestmark`."""
    absent = missing(part)
    return pytest.mark.skipif(bool(absent), reason=f"{', '.join(absent)} not installed: {install_command(part)}")


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """ONNX exports made by tests go to one folder per session, never the user's cache; so do
    the embedding caches of PostgreSQL stores (one per database URL, `$ACCORD_CACHE_DIR`), which
    would otherwise pile up in ~/.cache/accord, a new file for each test database."""
    folder = tmp_path_factory.mktemp("models")
    patch = pytest.MonkeyPatch()
    patch.setenv("ACCORD_MODEL_CACHE", str(folder))  # subprocesses inherit it
    patch.setenv("ACCORD_CACHE_DIR", str(tmp_path_factory.mktemp("accord-cache")))
    yield folder
    patch.undo()

CORPUS = {
    "libya.txt": (
        "Russia may resume military cooperation with Libya\n"
        "Updated: 2012-08-22 16:33\n(Xinhua)\n"
        "MOSCOW - Russia may soon resume military-technical cooperation with Libya, an agency said.\n"
        "A Libyan delegation was to visit Moscow to discuss arms contracts.\n"
    ),
    "iran.txt": (
        "Russia, Iran Sign Joint Military Cooperation Agreement\n"
        "TEHRAN, January 20 (Sputnik) – Russia and Iran signed an agreement on military cooperation.\n"
        "The navies of both countries will make more port calls.\n"
    ),
    "wheat.txt": (
        "Wheat harvest breaks records in Kansas\n"
        "Farmers in Kansas brought in the largest wheat harvest in a decade this summer.\n"
        "Grain prices fell as silos filled across the plains.\n"
    ),
}
JSONL_RECORDS = [
    {"id": "exercise-1", "title": "Navies hold joint exercise", "body": "India and France held a joint naval exercise in the Indian Ocean.", "date": "2021-05-03", "source": "Reuters"},
]


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A folder with three .txt articles and one .jsonl file of one article."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in CORPUS.items():
        (folder / name).write_text(text)
    (folder / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL_RECORDS))
    return folder


@pytest.fixture
def encoder() -> HashingEncoder:
    return HashingEncoder()


@pytest.fixture
def built_index(tmp_path: Path, corpus_dir: Path, encoder: HashingEncoder) -> Path:
    """An index of `corpus_dir` built with the fake encoder."""
    from index.pipeline.builder import build

    index_dir = tmp_path / "index"
    build([corpus_dir], index_dir, encoder=encoder)
    return index_dir


# What makes a test slow (5 s or more on a quiet two-core machine): a real server, model,
# cluster or browser, or one of these named tests that build many indexes. `pytest -m "not
# slow"` is the fast loop; CI runs everything.
SLOW_FIXTURES = {"postgres_server", "pg_url"}
SLOW_MODULES = {"tests.test_dask_embedding", "tests.test_serve_browser", "tests.test_serve_views_browser", "tests.test_postgres_shards"}
SLOW_TESTS = {
    "test_killed_updates_leave_a_searchable_index_that_converges",
    "test_incremental_updates_match_a_build_from_scratch",
    "test_readers_see_old_or_new_state_never_a_mix",
    "test_a_build_in_many_batches_keeps_the_keyword_index_in_few_segments",
    "test_check_names_the_damaged_file",
    "test_threads_share_one_engine_while_updates_are_committed",
    "test_plain_or_queries_score_exactly_as_whoosh",
    "test_bench_index_runs_and_writes_json",
    "test_watch_logs_saved_searches_that_gained_matches",
    "test_a_fuzzed_file_is_indexed_or_reported_and_the_index_stays_intact",
    "test_updates_keep_the_groups_a_fresh_build_makes",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (
            item.get_closest_marker("real_model") is not None
            or fixtures & SLOW_FIXTURES
            or item.module is not None and item.module.__name__ in SLOW_MODULES
            or getattr(item, "originalname", item.name) in SLOW_TESTS
        ):
            item.add_marker(pytest.mark.slow)


@contextlib.contextmanager
def server_running(server, name: str, wait_s: float = 30, log: Sequence[str] = ()) -> Iterator[None]:
    """`server` (a search.web.server.Server) run in a daemon thread named `name`: waits until it
    serves (failing if its thread dies or `wait_s` pass; `log` is shown then), and on leaving
    stops it and checks that its thread ended."""
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + wait_s
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"the server did not start: {list(log)}"
        time.sleep(0.05)
    try:
        yield
    finally:
        server.stop()
        thread.join(timeout=wait_s)
        assert not thread.is_alive(), "the server did not stop"


def interruptible() -> None:
    """`preexec_fn` for a child process a test stops with SIGINT (Ctrl-C): the default action
    restored in it. A shell that runs the tests in the background (`cmd &` in a script) starts
    them with SIGINT ignored, every child inherits that, and Python then installs no
    KeyboardInterrupt handler: the child would never see the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
