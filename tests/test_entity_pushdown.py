"""The defence-fact filters are pushed down into the keyword stores: the engine gives the keyword
leg the ids of the articles that pass them, and the store finds its best `limit` among those,
instead of the engine fetching every keyword match and filtering it. The ranking must not change:
the same hits, with the same scores, as every match filtered and cut, on a corpus of 65 articles
(the seeds and 60 made of defence sentences), in the folder store and in PostgreSQL.

Everything is real: indexes built with the fake encoder, whoosh and PostgreSQL keyword stores.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine
from search.feedback import feedback_run
from search.query import parse_query
from tests.conftest import FAKE_MODEL, SEEDS, HashingEncoder, requires

SENTENCES = (
    "Russia will deliver S-300 missile systems to Iran under a contract signed by Rosoboronexport.",
    "The defence ministers held talks in Moscow on military cooperation and a visit by the navy.",
    "NATO troops held joint military exercises with Poland near the border.",
    "The United States pledged military aid to Ukraine, including Javelin anti-tank missiles.",
    "India and Russia will co-produce BrahMos missiles under licence, Hindustan Aeronautics said.",
    "The EU kept its arms embargo on China in place despite calls to lift the ban.",
    "Lockheed Martin won a Pentagon contract for F-35 fighter jets for the Air Force.",
    "Military trainers from Britain will train Iraqi troops in cooperation with the army.",
    "Egypt bought Rafale fighter jets from Dassault, and France will deliver them next year.",
    "The Federal Service for Military-Technical Cooperation said arms exports rose this year.",
)
FILLER = "Officials said the economy grew while markets and trade talks went on in the capital.".split()
QUERIES = ("military cooperation", "missiles", "arms contract", "talks", "fighter jets France", "troops army")
FILTERS = (
    Filters.parse(organisations=["Rosoboronexport"]),
    Filters.parse(kinds=["arms_sale"]),
    Filters.parse(kinds=["visit_talks"], countries=["Russia"]),
    Filters.parse(systems=["S-300"]),
    Filters.parse(kinds=["exercise", "military_aid"]),
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(SEEDS, folder)
    rng = random.Random(28)
    for n in range(60):
        chosen = rng.sample(SENTENCES, rng.randint(1, 4))
        words = " ".join(rng.choices(FILLER, k=rng.randint(10, 60)))
        title = chosen[0].split(",")[0][:60]
        (folder / f"made_{n:02d}.txt").write_text(f"{title}\n\n{' '.join(chosen)} {words}.\n", encoding="utf-8")
    return folder


def _passing(engine: Engine, ids: list[str], filters: Filters) -> list[str]:
    """The ids whose stored facts pass the filters' defence part, read article by article."""
    kept = []
    for article_id in ids:
        facts = engine.facts(article_id)
        assert facts is not None
        names = ({s.name for s in facts.systems} | {o.name for o in facts.organisations} | set(facts.kinds))
        if set(filters.systems) | set(filters.organisations) | set(filters.kinds) <= names:
            kept.append(article_id)
    return kept


def _check_same_hits(engine: Engine) -> None:
    checked = 0
    for query in QUERIES:
        for filters in FILTERS:
            for limit in (1, 3, 10):
                everything = engine.keyword_run(query, 10_000, filters.without_entities())
                passing = set(_passing(engine, [hit[0] for hit in everything], filters))
                expected = [hit for hit in everything if hit[0] in passing][:limit]
                assert engine.keyword_run(query, limit, filters) == expected, (query, filters, limit)
                checked += bool(expected)
            # the hybrid's keyword leg runs feedback from the passing articles and again among them
            with engine.view() as generation:
                parsed = parse_query(query).keyword
                first = engine.keyword_run(query, 10, filters)
                feedback = engine.ranking.feedback
                assert feedback is not None
                pushed = feedback_run(generation.keyword, generation.docs, parsed, first, 10, filters.without_entities(),
                                      feedback, set(passing))
                every = feedback_run(generation.keyword, generation.docs, parsed, [h for h in everything if h[0] in passing],
                                     10_000, filters.without_entities(), feedback)
                assert pushed == [hit for hit in every if hit[0] in passing][:10], (query, filters)
    assert checked >= 40  # most combinations have hits: the comparison is not vacuous
    # The stores take the allowed ids themselves: their best among those, not among all.
    with engine.view() as generation:
        parsed = parse_query("missiles").keyword
        every = generation.keyword.search(parsed, 10_000, None)
        some = {article_id for article_id, _score in every[1::2]}
        found = generation.keyword.search(parsed, 3, None, some)
        assert len(found) == 3 and {article_id for article_id, _ in found} <= some
        assert generation.keyword.search(parsed, 3, None, set()) == []


def test_pushdown_keeps_the_keyword_ranking(corpus: Path, tmp_path: Path):
    index_dir = tmp_path / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        _check_same_hits(engine)
        # and a filtered hybrid search still fills k when k articles pass
        hits = engine.search("military cooperation", k=5, filters=Filters.parse(kinds=["arms_sale"])).hits
        assert len(hits) == 5 and all("arms_sale" in engine.facts(hit.id).kinds for hit in hits)


@requires("postgres")
def test_pushdown_keeps_the_keyword_ranking_in_postgres(corpus: Path, pg_url: str):
    build([corpus], pg_url, encoder=HashingEncoder())
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        _check_same_hits(engine)


def test_the_pushdown_benchmark_runs(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """benchmarks/query_speed/bench_entity_filter.py times both ways on an index and checks their hits agree."""
    import json
    import sys

    from benchmarks.query_speed import bench_entity_filter

    build([corpus], tmp_path / "ix", model=FAKE_MODEL)
    out = tmp_path / "entity_filter.json"
    monkeypatch.setattr(sys, "argv", ["bench_entity_filter.py", str(tmp_path / "ix"), "--repeat", "1", "--no-wait",
                                      "--out", str(out)])
    bench_entity_filter.main()
    results = json.loads(out.read_text())["results"]
    assert {r["kind"] for r in results} >= {"arms_sale", "visit_talks"} and any(r["passing"] for r in results)
