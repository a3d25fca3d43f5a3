"""The semantic leg's article ranking (search/passages.py): the articles whose best passage is
nearest a vector, best first with ties by id. It sorts only the part of the ranking that can hold
the `limit` best; that must give exactly the ranking of sorting every article found."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.pipeline.builder import build
from search.engine import Engine
from search.fusion import best_first
from search.passages import _leading, best_passages
from tests.conftest import HashingEncoder

WORDS = "navy frigate deal arms export minister talks signed delivery missile army treaty oil".split()


def _reference(view, vector, limit, allowed=None):
    """best_passages as first written: every article found sorted, then cut."""
    total = len(view.vectors) if allowed is None else len(allowed)
    want = limit * 4
    while True:
        found = view.vectors.search(vector, min(want, total), allowed)
        article_of = view.docs.passage_articles([pid for pid, _ in found])
        best = {}
        for pid, score in found:
            if article_of[pid] not in best:
                best[article_of[pid]] = (score, pid)
        if len(best) >= limit or want >= total:
            break
        want *= 4
    run = best_first([(a, score) for a, (score, _pid) in best.items()])
    return run[:limit], {a: pid for a, (_score, pid) in best.items()}


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 articles of several passages, a third of them copies of others (so scores tie)."""
    root = tmp_path_factory.mktemp("best-passages")
    source = root / "src"
    source.mkdir()
    rng = random.Random(11)
    bodies: list[str] = []
    for number in range(60):
        if number % 3 == 2:
            body = bodies[rng.randrange(len(bodies))]
        else:
            body = " ".join(" ".join(rng.choice(WORDS) for _ in range(9)).capitalize() + "." for _ in range(rng.randint(4, 30)))
        bodies.append(body)
    records = [{"id": f"a{number:03d}", "title": f"Report {number}", "body": body} for number, body in enumerate(bodies)]
    (source / "articles.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    build([source], root / "ix", encoder=HashingEncoder())
    return root / "ix"


def test_the_ranking_is_that_of_sorting_every_article_found(index_dir: Path) -> None:
    encoder = HashingEncoder()
    with Engine.open(index_dir, encoder=encoder) as engine, engine.view() as view:
        passage_ids = sorted(view.docs.passage_ids())
        for text in ("navy frigate deal", "oil", "missile treaty talks signed", "report"):
            vector = encoder.encode([text])[0]
            for limit in (1, 2, 3, 5, 8, 13, 40, 100):
                assert best_passages(view, vector, limit) == _reference(view, vector, limit)
                allowed = passage_ids[::3]
                assert best_passages(view, vector, limit, allowed) == _reference(view, vector, limit, allowed)


_scores = st.sampled_from([0.9, 0.5, 0.5, 0.25, 0.1, 0.0, -0.3])


@settings(max_examples=300, deadline=None)
@given(st.lists(_scores, max_size=30), st.integers(min_value=1, max_value=12), st.booleans())
def test_the_leading_part_holds_the_best(scores, limit, in_order):
    run = [(f"d{number:02d}", score) for number, score in enumerate(scores)]
    random.Random(len(scores)).shuffle(run)
    if in_order:  # as the vector stores return it: best first, ties in any order
        run.sort(key=lambda hit: hit[1], reverse=True)
    assert best_first(_leading(run, limit))[:limit] == best_first(run)[:limit]
