"""`accord watch` with poison input: a real watcher thread on tmp_path logs and skips bad records
and files, survives a batch that fails as a whole, and goes on indexing what comes next."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from index.errors import AccordError
from index.pipeline.builder import BuildReport
from index.pipeline.watch import BatchFailed, watch
from search.engine import Engine
from tests.conftest import HashingEncoder


class PoisonedEncoder(HashingEncoder):
    """The fake encoder, failing like a broken model would on any text holding `POISON`."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if any("poisonword" in text.lower() for text in texts):
            raise RuntimeError("the model failed on this input")
        return super().encode(texts)


class Watcher:
    """A watch() running in a thread; `batches` collects what each batch reported."""

    def __init__(self, folder: Path, index_dir: Path, encoder: HashingEncoder) -> None:
        self.batches: list[BuildReport | AccordError] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch,
            args=(folder, index_dir, lambda report, _s: self.batches.append(report)),
            kwargs={"encoder": encoder, "debounce_ms": 100, "settle_seconds": 0.2, "stop": self.stop},
        )

    def __enter__(self) -> Watcher:
        self.thread.start()
        self.wait_for(1)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive()

    def wait_for(self, n: int) -> None:
        deadline = time.time() + 20
        while len(self.batches) < n and time.time() < deadline:
            time.sleep(0.05)
        assert len(self.batches) >= n, self.batches


def article(title: str, body: str) -> str:
    return f"{title}\n{body}\n"


def test_poison_records_and_files_are_logged_and_skipped_and_watching_goes_on(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "first.txt").write_text(article("Navy drills", "The navies held drills off the coast today."))
    index_dir = tmp_path / "ix"
    with Watcher(folder, index_dir, HashingEncoder()) as watcher:
        assert watcher.batches[0].added == 1
        lines = [
            '{"id": "surrogate", "body": "Tank \\ud800 deal signed in Cairo."}',
            json.dumps({"id": "nested", "title": {"en": "Nested"}, "body": "x"}),
            json.dumps({"id": "surrogate", "body": "A repeat."}),
            "{broken",
        ]
        (folder / "poison.jsonl").write_text("\n".join(lines) + "\n")
        with open(os.path.join(os.fsencode(folder), b"bad\xff.txt"), "wb") as handle:
            handle.write(b"Bad name\nThis file has a name that is not UTF-8 at all, sadly.\n")
        (folder / "binary.txt").write_bytes(bytes(range(256)) * 4)
        watcher.wait_for(2)
        (folder / "later.txt").write_text(article("Frigate sale", "A frigate sale to Egypt was agreed."))
        watcher.wait_for(3)
    reports = [b for b in watcher.batches if isinstance(b, BuildReport)]
    # watchfiles cannot decode the bad name: the watcher says so, watches again, updates in full.
    failures = [str(b) for b in watcher.batches if not isinstance(b, BuildReport)]
    assert all(f.startswith("file watcher: ") and "bad" in f for f in failures), failures
    skipped = {s.path: s.reason for b in reports for s in b.skipped}
    assert skipped[f"{folder}/poison.jsonl:2"] == "field 'title' is an object; expected a string"
    assert skipped[f"{folder}/poison.jsonl:3"] == "duplicate id 'surrogate' (first on line 1)"
    assert skipped[f"{folder}/poison.jsonl:4"].startswith("not valid JSON")
    assert skipped[f"{folder}/bad\\xff.txt"].startswith("file name is not valid UTF-8")
    assert skipped[f"{folder}/binary.txt"].startswith("binary")
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert engine.stats().articles == 3  # first, surrogate, later
        assert engine.article("surrogate").body == "Tank \ufffd deal signed in Cairo."
        assert [h.id for h in engine.search("frigate", mode="keyword")] == ["later"]


def test_a_batch_that_fails_as_a_whole_is_reported_and_the_next_one_runs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "first.txt").write_text(article("Navy drills", "The navies held drills off the coast today."))
    index_dir = tmp_path / "ix"
    with Watcher(folder, index_dir, PoisonedEncoder()) as watcher:
        (folder / "poison.txt").write_text(article("Bad one", "This poisonword article breaks the model."))
        watcher.wait_for(2)
        failed = watcher.batches[1]
        assert isinstance(failed, BatchFailed)
        assert str(failed).startswith("internal error: RuntimeError: the model failed on this input")
        (folder / "poison.txt").unlink()
        (folder / "later.txt").write_text(article("Frigate sale", "A frigate sale to Egypt was agreed."))
        deadline = time.time() + 20
        while not any(isinstance(b, BuildReport) and b.added for b in watcher.batches[2:]) and time.time() < deadline:
            time.sleep(0.05)
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert sorted(h.id for h in engine.search("frigate navies", mode="keyword")) == ["first", "later"]
