"""One Engine shared by many threads gives exactly the single-thread results, with no errors,
while another thread commits updates and the Engine refreshes onto each new generation."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine
from tests.conftest import HashingEncoder

THREADS = 8
SEARCHES = 500
QUERIES = [
    ("military cooperation Libya", "hybrid", None),
    ("navies exercise", "keyword", None),
    ("arms contracts Moscow", "semantic", None),
    ("wheat harvest", "hybrid", Filters(countries=("United States",))),
    ("Russia military", "hybrid", Filters(since="2012-01-01")),
    ('"military cooperation" AND NOT iran', "hybrid", None),
    ("joint naval exercise", "semantic", Filters(sources=("Reuters",))),
    ("cooperation", "keyword", Filters(countries=("Russia",))),
]


def _answer(engine: Engine, query: str, mode: str, filters: Filters | None):
    result = engine.search(query, k=5, mode=mode, filters=filters, facets=True)  # type: ignore[arg-type]
    return result.generation, ([(h.id, h.score, h.snippet, h.highlights) for h in result], result.facets)


def _add_noise(folder: Path, n: int) -> None:
    record = {"id": f"noise-{n}", "title": f"Zzyzx quarterly bulletin {n}",
              "body": f"Zzyzx qwerty bulletin number {n} about nothing else."}
    (folder / f"noise-{n}.jsonl").write_text(json.dumps(record) + "\n")


def _expected_per_generation(corpus: Path, work: Path, updates: int) -> dict[str, dict]:
    """Single-thread answers to every query at every generation the updates will publish,
    from the same builds run one after the other in another folder."""
    extra = work / "extra"
    extra.mkdir(parents=True)
    index_dir = work / "index"
    answers: dict[str, dict] = {}
    build([corpus, extra], index_dir, encoder=HashingEncoder())
    for n in range(updates + 1):
        with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
            for q, m, f in QUERIES:
                generation, answer = _answer(engine, q, m, f)
                answers.setdefault(generation, {})[(q, m, f)] = answer
        if n < updates:
            _add_noise(extra, n)
            build([], index_dir, encoder=HashingEncoder())
    return answers


@pytest.fixture
def stable_corpus(tmp_path: Path, corpus_dir: Path) -> tuple[Path, Path]:
    """The test corpus as one source, and a second source folder the updater writes into."""
    extra = tmp_path / "extra"
    extra.mkdir()
    return corpus_dir, extra


def test_threads_share_one_engine_while_updates_are_committed(tmp_path: Path, stable_corpus) -> None:
    corpus, extra = stable_corpus
    updates = 4
    expected = _expected_per_generation(corpus, tmp_path / "reference", updates)
    index_dir = tmp_path / "index"
    build([corpus, extra], index_dir, encoder=HashingEncoder())

    # Every answer is compared with the single-thread answer on the generation it ran on.
    errors: list[BaseException] = []
    mismatches: list[tuple] = []
    generations: set[str] = set()
    stop = threading.Event()

    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:

        def searcher(number: int) -> None:
            try:
                for i in range(SEARCHES):
                    query, mode, filters = QUERIES[(number + i) % len(QUERIES)]
                    generation, got = _answer(engine, query, mode, filters)
                    if got != expected[generation][(query, mode, filters)]:
                        mismatches.append((generation, query, mode, got))
                    if i % 50 == 0:
                        engine.refresh()
                        generations.add(engine.manifest.generation)
            except BaseException as err:  # noqa: BLE001 - every failure is collected and asserted
                errors.append(err)

        def updater() -> None:
            try:
                for n in range(updates):
                    if stop.is_set():
                        return
                    _add_noise(extra, n)
                    build([], index_dir, encoder=HashingEncoder(), lock_timeout=60)
            except BaseException as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=searcher, args=(n,)) for n in range(THREADS)]
        writer = threading.Thread(target=updater)
        for thread in threads + [writer]:
            thread.start()
        writer.join()
        for thread in threads:
            thread.join()
        stop.set()
        engine.refresh()
        final = engine.stats()

    assert errors == []
    assert mismatches == []
    assert final.articles == 4 + updates  # every update was committed and is now what the engine sees
    assert len(generations) >= 2  # the engine did move on to newer generations while searching


def test_refresh_switches_generation_and_in_flight_searches_finish_on_the_old(built_index: Path, corpus_dir: Path) -> None:
    encoder = HashingEncoder()
    with Engine.open(built_index, encoder=encoder) as engine:
        assert engine.refresh() is False  # nothing changed
        old = engine.manifest.generation
        with engine._using() as held:  # a search in flight on the old generation
            (corpus_dir / "new.jsonl").write_text(json.dumps(
                {"id": "new-1", "title": "Egypt buys frigates", "body": "Egypt bought two frigates from France."}) + "\n")
            build([], built_index, encoder=encoder)
            assert engine.refresh() is True
            assert engine.manifest.generation != old
            assert held.manifest.generation == old
            assert held.docs.article("libya") is not None  # still open and readable
        assert [h.id for h in engine.search("frigates Egypt", mode="keyword")] == ["new-1"]
        assert engine.refresh() is False
