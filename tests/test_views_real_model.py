"""The issue's acceptance on the seed corpus with the packaged all-MiniLM-L6-v2 and the default cut-off."""

from __future__ import annotations

import shutil

import pytest

from index.filters import Filters
from index.pipeline.builder import build
from search.engine import Engine
from search.views.pairs import pairs
from search.views.timeline import timeline
from search.views.watchlist import add_search, check_alerts
from tests.conftest import SEEDS

pytestmark = pytest.mark.real_model
SIXTH = (
    "Serbia and Russia agree on military-technical cooperation\n"
    "BELGRADE, March 3 (Sputnik) - Serbia and Russia signed an agreement on military-technical cooperation, "
    "including deliveries of air defence systems and joint training of their armies.\n"
    "Defence ministers of Serbia and Russia said military cooperation between the two countries would grow.\n"
)


@pytest.fixture(scope="module")
def seeds_index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds-views")
    shutil.copytree(SEEDS, folder / "seeds")
    build([folder / "seeds"], folder / "index")
    return folder


def test_pairs_for_russia(seeds_index):
    with Engine.open(seeds_index / "index") as engine:
        result = pairs(engine, "military-technical cooperation", filters=Filters.parse(["Russia"]))
    partners = {next(c for c in p.countries if c != "Russia") for p in result.pairs}
    assert partners == {"Iraq", "Iran", "Lebanon", "Libya"}
    iraq = next(p for p in result.pairs if "Iraq" in p.countries)
    assert (iraq.count, iraq.first, iraq.last, iraq.example.id[:3]) == (1, "2019-10-20", "2019-10-20", "002")


def test_military_cooperation_timeline(seeds_index):
    with Engine.open(seeds_index / "index") as engine:
        result = timeline(engine, "military cooperation", by="year")
    counted = {p.label: p.count for p in result.periods if p.count}
    assert counted == {"2012": 1, "2019": 1}  # 002's "Oct. 25, 2012" is a photo caption, not its date
    assert len(result.undated) == 3 and result.total == 5


def test_sixth_article_alerts_only_the_matching_search(seeds_index, tmp_path):
    index_dir, folder = tmp_path / "index", tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    cache = seeds_index / "index" / "cache" / "embeddings.sqlite"  # the seeds' vectors, not embedded again
    build([folder], index_dir, embedding_cache=cache)
    with Engine.open(index_dir) as engine:
        add_search(engine, "coop", "military cooperation")
        add_search(engine, "grain", "wheat harvest and grain prices")
    (folder / "005_sixth.txt").write_text(SIXTH)
    assert build([], index_dir, embedding_cache=cache).added == 1
    with Engine.open(index_dir) as engine:
        alerts = {a.search.name: [m.id for m in a.matches] for a in check_alerts(engine)}
    assert alerts == {"coop": ["005_sixth"], "grain": []}
