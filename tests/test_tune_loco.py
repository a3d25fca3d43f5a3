"""A smoke run of benchmarks/tuning/tune_loco.py on three tiny synthetic collections with the fake
encoder: one build per collection, every value run on it, the tables and the JSON written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.tuning import tune_loco
from tests.conftest import FAKE_MODEL, requires

pytestmark = requires("eval")

MODEL = FAKE_MODEL  # registered by tests/conftest.py
DOCS = {
    "1": "Hovercraft trials on the river near the harbour.",
    "2": "Aircraft design notes on wings near the harbour.",
    **{str(3 + n): f"Aircraft report number {n} on budgets and fleets." for n in range(4)},
    **{str(7 + n): f"Budget report number {n} on harbours." for n in range(2)},
}


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """`time` with a dev split; `cisi` whose one query repeats a word; `cran` with no repeats."""
    root = tmp_path / "data"
    queries = {
        "time": "1\taircraft aircraft hovercraft aircraft aircraft\n2\tbudget harbours\n",
        "cisi": "1\taircraft hovercraft aircraft aircraft aircraft\n2\twings design\n",
        "cran": "1\thovercraft river\n2\tbudget fleets\n",
    }
    for name, text in queries.items():
        (root / name).mkdir(parents=True)
        (root / name / "docs.jsonl").write_text("".join(json.dumps({"docno": d, "text": t}) + "\n" for d, t in DOCS.items()))
        split = "-dev" if name == "time" else ""
        (root / name / f"queries{split}.tsv").write_text(text)
        (root / name / f"qrels{split}.trec").write_text("1 0 1 1\n2 0 2 1\n2 0 7 1\n")
    return root


def test_tune_loco_runs_every_value_on_one_build_per_collection(data, tmp_path, capsys):
    out = tmp_path / "loco.json"
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--values", "linear", "once", "k3",
                    "--against", "linear", "once", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "Leave one collection out (against `linear`)" in printed
    assert "Chosen against `once` on all 3:" in printed
    assert sorted(p.name for p in (tmp_path / "ix").iterdir()) == ["cisi", "cran", "time"]
    payload = json.loads(out.read_text())
    assert set(payload["means"]["cisi"]) == {"linear", "once", "k3"}
    # No query of cran repeats a word: every weighting reads it alike.
    same = payload["comparisons"]["cran"]["k3"]["linear"]
    assert (same["wins"], same["losses"], same["ties"], same["p_value"]) == (0, 0, 2, 1.0)
    # The keyword leg ranks the hovercraft article first once "aircraft" x4 no longer outweighs
    # it, and the hybrid, which lifts articles holding more of the query's weight, is no worse.
    time_means = payload["means"]["time"]
    assert time_means["k3"]["keyword"] > time_means["linear"]["keyword"]
    assert time_means["k3"]["hybrid"] >= time_means["linear"]["hybrid"]


def test_a_reference_must_be_among_the_values(data, tmp_path):
    with pytest.raises(SystemExit):
        tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--values", "k3", "--against", "linear"])
    assert not (tmp_path / "ix").exists()


def test_a_misspelt_value_fails_before_any_build(data, tmp_path, capsys):
    with pytest.raises(SystemExit):
        tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--values", "linear", "k3=0", "--against", "linear"])
    assert "query term weighting 'k3=0'" in capsys.readouterr().err
    assert not (tmp_path / "ix").exists()


def test_the_idf_is_a_keyword_store_option_whoosh_scores_with(tmp_path):
    """`idf="whoosh"` scores as whoosh's own BM25F does (its scorer, not the array fast path's
    copy of it); the default is Lucene's idf; anything else is refused before anything opens."""
    from whoosh import scoring

    from index.errors import InvalidArgument
    from index.storage.keyword import KeywordWriter, WhooshKeywordStore
    from index.text.articles import Article
    from search.query import parse_query

    writer = KeywordWriter(tmp_path / "kw", title_boost=2.0)
    for number, text in DOCS.items():
        writer.add(Article(number, text[:20], text, None, None, None, f"{number}.txt", title_derived=True))
    writer.commit()
    query = parse_query("aircraft report").keyword

    def scores(**idf: str) -> dict[str, float]:
        store = WhooshKeywordStore(tmp_path / "kw", 2.0, 0.75, **idf)
        try:
            return dict(store.search(query, 10))
        finally:
            store.close()

    lucene, whoosh = scores(), scores(idf="whoosh")
    assert set(whoosh) == set(lucene) and all(whoosh[d] > lucene[d] for d in lucene)  # whoosh's idf >= 1
    from whoosh import index as whoosh_index

    with whoosh_index.open_dir(str(tmp_path / "kw")).searcher(weighting=scoring.BM25F(B=0.75, K1=2.0)) as searcher:
        reference = {searcher.stored_fields(hit.docnum)["id"]: hit.score for hit in searcher.search(query, limit=10)}
    assert whoosh == pytest.approx(reference)
    assert scores(idf="lucene") == lucene
    with pytest.raises(InvalidArgument, match="idf must be one of lucene, whoosh"):
        WhooshKeywordStore(tmp_path / "kw", 2.0, 0.75, idf="tfidf")


def test_the_idf_setting_runs_through_the_engines_ranking(data, tmp_path, capsys):
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--setting", "idf",
                    "--values", "lucene", "whoosh", "--against", "lucene", "--json", str(tmp_path / "idf.json")])
    payload = json.loads((tmp_path / "idf.json").read_text())
    assert set(payload["means"]["time"]) == {"lucene", "whoosh"}
    assert len(list((tmp_path / "ix").iterdir())) == 3  # one build per collection: the idf is no build setting


def test_one_collection_runs_without_a_leave_one_out_table(data, tmp_path, capsys):
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--collections", "time",
                    "--values", "linear", "k3", "--against", "linear"])
    assert "Leave one collection out: needs two collections or more." in capsys.readouterr().out


def test_ranking_settings_run_through_the_engines_options(data, tmp_path, capsys):
    out = tmp_path / "fusion.json"
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--setting", "fusion",
                    "--values", "convex=0.3", "convex=1", "rrf=60", "--against", "convex=0.3", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "Leave one collection out (against `convex=0.3`)" in printed
    payload = json.loads(out.read_text())
    # Fusion changes only the hybrid: the keyword leg is not run again for it.
    assert set(payload["means"]["time"]["rrf=60"]) == {"hybrid"}
    # At keyword weight 1 the hybrid is the keyword leg's order (its scores, lifted by coverage),
    # which is not the semantic-weighted default's on every collection.
    means = payload["means"]
    assert any(means[n]["convex=1"]["hybrid"] != means[n]["convex=0.3"]["hybrid"] for n in means)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("fusion", "convex=2", "convex=W takes a weight from 0 to 1"),
    ("fusion", "borda", "the fusion is convex"),
    ("bm25", "2.0", "bm25 takes K1/B"),
    ("feedback", "5/10", "feedback is off or DOCS/TERMS/WEIGHT"),
    ("feedback", "0/10/0.2", "feedback needs docs >= 1"),
    ("coverage", "-1", "coverage takes a weight"),
    ("fusion", "max=1.5", "max=W takes a weight from 0 to 1"),
    ("depth", "25", "depth takes a whole multiple of 10"),
    ("depth", "0", "depth takes a whole multiple of 10"),
    ("title-boost", "two", "a title boost is a number"),
    ("stop-list", "french", "the stop list is one of"),
    ("stemmer", "lancaster", "the stemmer is one of"),
])
def test_a_bad_value_of_each_setting_fails_before_any_build(data, tmp_path, capsys, setting, value, message):
    with pytest.raises(SystemExit):
        tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--setting", setting, "--values", value,
                        "--against", value])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ix").exists()


def test_the_ranking_values_set_the_engines_fields():
    assert tune_loco.feedback("off").feedback is None
    assert tune_loco.feedback("3/20/0.1").feedback == tune_loco.Feedback(docs=3, terms=20, weight=0.1)
    assert (tune_loco.bm25("1.2/0.5").bm25_k1, tune_loco.bm25("1.2/0.5").bm25_b) == (1.2, 0.5)
    assert (tune_loco.fusion("rrf=10").fusion, tune_loco.fusion("rrf=10").rrf_k) == ("rrf", 10)
    assert tune_loco.coverage("0").coverage_boost == 0.0
    assert (tune_loco.fusion("max=0.2").scale, tune_loco.fusion("max=0.2").weight) == ("max", 0.2)
    assert (tune_loco.fusion("convex=0.3").scale, tune_loco.fusion("convex=0.3").weight) == ("min-max", 0.3)
    assert (tune_loco.depth("50").min_fetch, tune_loco.depth("50").fetch_factor) == (50, 5)


def test_the_depth_setting_scores_a_first_page_of_ten_as_served(data, tmp_path, capsys):
    out = tmp_path / "depth.json"
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--setting", "depth",
                    "--values", "100", "10", "--against", "100", "--json", str(out)])
    assert "nDCG@10 of the top 10, hybrid" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["hits"] == 10 and set(payload["means"]["time"]["10"]) == {"hybrid"}
    with pytest.raises(SystemExit):
        tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--setting", "depth", "--hits", "100",
                        "--values", "100", "--against", "100"])
    assert "the depth setting scores a first page of 10" in capsys.readouterr().err


def test_hits_10_scores_each_value_on_its_first_page(data, tmp_path, monkeypatch):
    asked = []
    searched = tune_loco.run_queries

    def recording(engine, queries, mode, depth):
        asked.append(depth)
        return searched(engine, queries, mode, depth)

    monkeypatch.setattr(tune_loco, "run_queries", recording)
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--collections", "time",
                    "--setting", "fusion", "--hits", "10", "--values", "max=0.3", "convex=0.3", "--against", "max=0.3"])
    tune_loco.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--collections", "time",
                    "--setting", "fusion", "--values", "max=0.3", "--against", "max=0.3"])
    assert asked == [10, 10, 100]


def test_build_settings_search_their_own_index_built_from_the_first_builds_embeddings(data, tmp_path, capsys):
    from index.pipeline.builder import build
    from index.storage.manifest import BuildSettings, read_manifest
    from search.engine import Engine

    built = tmp_path / "ix" / "time"
    docs = data / "time" / "docs.jsonl"
    build([docs], built, model=MODEL)

    def found(folder: Path, text: str) -> set[str]:
        with Engine.open(folder) as engine:
            return {hit.id for hit in engine.search(text, k=10, mode="keyword").hits}

    # "on" is in the 127 English stop words: the build's index and its queries drop it.
    assert found(built, "on") == set()
    variant = tune_loco.variant_index("stop-list", built, docs, "none")
    assert variant.name == "time-stop-list-none" and "time-stop-list-none: 0 passages embedded" in capsys.readouterr().err
    assert read_manifest(variant).settings == BuildSettings(stop_words="none")
    assert found(variant, "on") == {d for d, t in DOCS.items() if " on " in t}
    assert found(built, "on") == set()  # the build itself is untouched
    stemmed = tune_loco.variant_index("stemmer", built, docs, "none")
    assert found(stemmed, "harbours") == {"7", "8"} and found(built, "harbours") == {"1", "2", "7", "8"}


def test_a_variant_is_updated_with_the_build_it_comes_from(data, tmp_path, capsys):
    from index.pipeline.builder import build
    from index.storage.manifest import BuildSettings, read_manifest

    built = tmp_path / "ix" / "cran"
    docs = data / "cran" / "docs.jsonl"
    build([docs], built, model=MODEL)
    first = tune_loco.variant_index("title-boost", built, docs, "1")
    assert tune_loco.variant_index("title-boost", built, docs, "1") == first  # updated in place
    assert read_manifest(first).settings == BuildSettings(title_boost=1.0)
    build([docs], built, model=MODEL, settings=BuildSettings(passage_tokens=32))  # the first build changed
    again = tune_loco.variant_index("title-boost", built, docs, "1")
    assert again == first and read_manifest(again).settings == BuildSettings(passage_tokens=32, title_boost=1.0)
    assert "cran-title-boost-1: 0 passages embedded" in capsys.readouterr().err.splitlines()[-1]


def test_page_depth_compares_each_scales_first_page_with_a_deeper_searchs(data, tmp_path, capsys):
    from benchmarks.tuning import page_depth

    rows = page_depth.main([str(data), "--indexes", str(tmp_path / "ix"), "--model", MODEL, "--json", str(tmp_path / "p.json")])
    assert [(r["collection"], r["scale"]) for r in rows] == [
        (name, scale) for name in ("time", "cisi", "cran") for scale in ("max", "min-max")]
    # Eight articles: both depths fetch every candidate, so every first page is the deeper one's.
    assert all(r["same_first_page"] == r["queries"] == 2 and r["first_page"] == r["deep_first_page"] for r in rows)
    assert "| time | max |" in capsys.readouterr().out
    assert json.loads((tmp_path / "p.json").read_text()) == rows
    with pytest.raises(SystemExit):
        page_depth.main([str(tmp_path / "nowhere"), "--indexes", str(tmp_path / "ix")])
