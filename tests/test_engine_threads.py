"""A hybrid search of a few words runs both legs in the calling thread, one after the other; a
long query (PARALLEL_LEGS_WORDS words or more) embeds and searches the vectors in a worker
thread, beside the keyword leg. Either way the result must be exactly what the two legs give
when run one after the other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from index.filters import Filters
from search.engine import PARALLEL_LEGS_WORDS, Engine, RankingConfig
from tests.conftest import HashingEncoder

SHORT = "military cooperation Libya"
# Words past the threshold, the seed corpus's words so the keyword leg finds articles.
LONG = " ".join(["military cooperation Libya Russia weapons deliveries navy exercises"] * (PARALLEL_LEGS_WORDS // 8 + 1))


class ThreadRecordingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def encode(self, texts):
        self.threads.append(threading.current_thread().name)
        return super().encode(texts)


@pytest.mark.parametrize("filters", [None, Filters(countries=("Russia",))])
@pytest.mark.parametrize(("query", "worker"), [(SHORT, False), (LONG, True)])
def test_hybrid_runs_the_legs_in_turn_or_side_by_side_with_the_same_result(
    built_index: Path, filters: Filters | None, query: str, worker: bool
) -> None:
    assert (len(query.split()) >= PARALLEL_LEGS_WORDS) is worker
    encoder = ThreadRecordingEncoder()
    # Without the coverage boost and keyword feedback (which `keyword_run` leaves out), the hybrid
    # is exactly the fusion of the two legs rebuilt here.
    ranking = RankingConfig(coverage_boost=0.0, feedback=None)
    with Engine.open(built_index, encoder=encoder, ranking=ranking) as engine:
        fetch = engine._fetch(10)
        keyword = engine.keyword_run(query, fetch, filters)
        semantic, _best = engine.semantic_run(query, fetch, filters)
        expected = engine._fuse(keyword, semantic, "hybrid")[:3]
        assert expected
        assert encoder.threads == ["MainThread"]

        hits = engine.search(query, k=3, mode="hybrid", filters=filters, collapse=False)
        assert [(h.id, h.score) for h in hits] == expected
        if worker:
            assert encoder.threads[-1].startswith("accord-semantic")
        else:
            assert encoder.threads[-1] == "MainThread"
    if worker:
        assert engine._pool is not None and engine._pool._shutdown  # closed with the engine
    else:
        assert engine._pool is None  # a short query never starts the worker


@pytest.mark.parametrize("query", [SHORT, LONG])
def test_an_error_in_the_semantic_leg_reaches_the_caller(built_index: Path, query: str) -> None:
    class Broken(HashingEncoder):
        def encode(self, texts):
            raise RuntimeError("model failed")

    with Engine.open(built_index, encoder=Broken()) as engine:
        with pytest.raises(RuntimeError, match="model failed"):
            engine.search(query, mode="hybrid")
