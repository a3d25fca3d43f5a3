"""Embedding for indexing: an interrupted build keeps its finished batches; the bar shows rate and ETA."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stderr

import pytest

from index.pipeline.builder import build
from index.storage.manifest import MANIFEST_NAME
from tests.conftest import HashingEncoder


class InterruptingEncoder(HashingEncoder):
    """Embeds `batches` batches, then is interrupted like a Ctrl-C in the middle of a build."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches = batches

    def encode(self, texts):
        if self.batches == 0:
            raise KeyboardInterrupt
        self.batches -= 1
        return super().encode(texts)


def test_an_interrupted_build_resumes_without_embedding_again(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(150):  # one passage each: three batches of the cache (64, 64, 22)
        (corpus / f"{i:03d}.txt").write_text(f"Article {i}\nTreaty number {i} on naval cooperation.\n")
    with pytest.raises(KeyboardInterrupt):
        build([corpus], tmp_path / "ix", encoder=InterruptingEncoder(batches=2))
    assert not (tmp_path / "ix" / MANIFEST_NAME).exists()  # nothing was published ...
    resumed = HashingEncoder()
    report = build([corpus], tmp_path / "ix", encoder=resumed)
    # ... but the two finished batches were kept and are not embedded again.
    assert (report.passages, report.reused_embeddings, report.embedded, resumed.calls) == (150, 128, 22, 22)


def test_progress_bar_shows_rate_and_time_left():
    from cli import _Progress

    stream = io.StringIO()
    with redirect_stderr(stream):
        progress = _Progress()
        progress._enabled = True  # as on a terminal
        with progress:
            progress("embed", 0, 200)
            time.sleep(0.15)
            progress("embed", 64, 200)
    line = stream.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "64/200" in line and "passage/s" in line and "<" in line, line  # [elapsed<left, rate]
