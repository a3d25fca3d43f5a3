"""A hybrid search embeds the query and searches the vectors in a worker thread, beside the
keyword leg; the result must be exactly what the two legs give when run one after the other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index.filters import Filters
from search.engine import Engine, RankingConfig
from tests.conftest import HashingEncoder


class ThreadRecordingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def encode(self, texts):
        self.threads.append(threading.current_thread().name)
        return super().encode(texts)


@pytest.mark.parametrize("filters", [None, Filters(countries=("Russia",))])
def test_hybrid_runs_the_semantic_leg_beside_the_keyword_leg(built_index: Path, filters: Filters | None) -> None:
    encoder = ThreadRecordingEncoder()
    # Without the coverage boost, the hybrid is exactly the fusion of the two legs rebuilt here.
    with Engine.open(built_index, encoder=encoder, ranking=RankingConfig(coverage_boost=0.0)) as engine:
        fetch = engine._fetch(10)
        keyword = engine.keyword_run("military cooperation Libya", fetch, filters)
        semantic, _best = engine.semantic_run("military cooperation Libya", fetch, filters)
        expected = engine._fuse(keyword, semantic, "hybrid")[:3]
        assert expected
        assert encoder.threads == ["MainThread"]

        hits = engine.search("military cooperation Libya", k=3, mode="hybrid", filters=filters, collapse=False)
        assert [(h.id, h.score) for h in hits] == expected
        assert encoder.threads[-1].startswith("accord-semantic")
    assert engine._pool is not None and engine._pool._shutdown  # closed with the engine


def test_an_error_in_the_worker_reaches_the_caller(built_index: Path) -> None:
    class Broken(HashingEncoder):
        def encode(self, texts):
            raise RuntimeError("model failed")

    with Engine.open(built_index, encoder=Broken()) as engine:
        with pytest.raises(RuntimeError, match="model failed"):
            engine.search("military cooperation", mode="hybrid")
