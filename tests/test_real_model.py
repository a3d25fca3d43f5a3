"""End to end with the packaged all-MiniLM-L6-v2 on the seed corpus, and the cold-start promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEEDS

pytestmark = pytest.mark.real_model
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def seeds_engine(tmp_path_factory):
    from index.pipeline.builder import build
    from search.engine import Engine

    index_dir = tmp_path_factory.mktemp("seeds-index")
    report = build([SEEDS], index_dir)
    assert report.articles == 5 and report.skipped == []
    with Engine.open(index_dir) as engine:
        yield engine


def test_libya_article_ranks_first_in_every_mode(seeds_engine):
    for mode in ("hybrid", "keyword", "semantic"):
        hits = seeds_engine.search("military-technical cooperation Libya", k=5, mode=mode)
        assert hits[0].id.startswith("004_"), mode


def test_semantic_leg_finds_article_without_shared_keywords(seeds_engine):
    # "North Africa" appears in no seed; only the meaning of "Libya" connects them.
    hits = seeds_engine.search("weapons deliveries to North Africa", k=2, mode="semantic")
    assert any(h.id.startswith("004_") for h in hits)
    assert seeds_engine.keyword_run("North Africa", 10) == []  # the words alone, no region reading


def test_a_region_in_the_query_finds_the_article_about_a_member_country(seeds_engine):
    # The Iran article says "embargo on arms sales"; the Libya article is the one in North Africa.
    for mode in ("hybrid", "keyword"):
        result = seeds_engine.search("arms sales to North Africa", k=5, mode=mode)
        assert result[0].id.startswith("004_"), (mode, [h.id for h in result])
        assert any("North Africa" in note and "Libya" in note for note in result.notes)


def test_real_vectors_are_normalised_and_384_wide():
    from index.embedding.torch_encoder import MiniLMEncoder

    vectors = MiniLMEncoder().encode(["Russia and Libya", "arms deal"])
    assert vectors.shape == (2, 384)
    assert abs(float((vectors**2).sum(axis=1).max()) - 1.0) < 1e-5


def test_help_and_keyword_search_do_not_import_torch(tmp_path):
    from index.pipeline.builder import build

    index_dir = tmp_path / "ix"
    build([SEEDS], index_dir)
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from cli import app\n"
        "r = CliRunner()\n"
        "assert r.invoke(app, ['--help']).exit_code == 0\n"
        f"assert r.invoke(app, ['search', 'Libya', '--mode', 'keyword', '--index', {str(index_dir)!r}]).exit_code == 0\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seed_filters_and_facets(seeds_engine):
    from index.filters import Filters

    iran = seeds_engine.search("military cooperation", k=5, filters=Filters.parse(["Iran"]))
    assert iran and all("Iran" in h.countries for h in iran)
    recent = seeds_engine.search("military cooperation", k=5, filters=Filters.parse(since="2019"))
    assert recent and all(h.date and h.date >= "2019" for h in recent)
    assert not {h.date for h in recent} & {"2012-08-22"}
    facets = seeds_engine.search("military cooperation", k=5, facets=True).facets
    assert dict(facets.countries)["Russia"] == 5
