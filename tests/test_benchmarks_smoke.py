"""Smoke runs of the benchmark scripts on a tiny synthetic corpus with the fake encoder.

They prove that `benchmarks/build_speed/bench_index.py`, `bench_query.py` and `bench_scale.py` still run end
to end and write their JSON, and that `benchmarks/quality/peers.py` names the `bench` extra when its peers are
missing. No evaluation data is read and the real model is never loaded.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from benchmarks.build_speed import bench_index
from benchmarks.quality import peers
from benchmarks.query_speed import bench_query, bench_scale
from tests.conftest import FAKE_MODEL

MODEL = f"tests.conftest:{FAKE_MODEL}"
WORDS = "oil wheat grain export bank rate dollar opec crude price trade deficit tonnes shares profit".split()


def _text(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(words))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder shaped like DATA: 12 Reuters records (2 without body), 4 BBC files."""
    root = tmp_path / "data"
    (root / "reuters21578").mkdir(parents=True)
    with gzip.open(root / "reuters21578" / "reuters21578.jsonl.gz", "wt", encoding="utf-8") as handle:
        for newid in range(1, 13):
            body = "" if newid in (4, 9) else f"{_text(newid, 12)}. {_text(newid + 1, 10)}.\n Reuter"
            record = {"newid": newid, "date": "26-FEB-1987 15:01:01.79", "title": _text(newid, 4).upper(),
                      "body": body, "topics": ["crude" if newid % 2 else "money-fx"], "places": ["usa", "iran"]}
            handle.write(json.dumps(record) + "\n")
    for category in ("business", "sport"):  # the same file names in both, as in the real BBC set
        (root / "bbc" / category).mkdir(parents=True)
        for number in (1, 2):
            (root / "bbc" / category / f"{number:03d}.txt").write_text(
                f"{category} story {number}\n\n{_text(number, 30)}.\n")
    return root


def test_bench_index_runs_and_writes_json(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "index.json"
    bench_index.main([str(data), "--model", MODEL, "--keyword-scale", "25", "--no-wait", "--out", str(out),
                      "--keep-index", str(tmp_path / "kept")])
    payload = json.loads(out.read_text())
    results = payload["results"]
    assert payload["command"].startswith("python -m benchmarks.build_speed.bench_index ")
    assert len(payload["machine"]["load_avg"]) == 3 and payload["machine"]["cores"] >= 1
    assert results["reuters_conversion"] == {"records": 12, "empty_body_skipped": 2, "written": 10}
    assert results["reuters"]["build"]["articles"] == 10 and results["reuters"]["build"]["embedded"] > 0
    assert results["reuters"]["warm_rebuild"]["embedded"] == 0
    stages = results["reuters"]["warm_rebuild"]["stage_seconds"]  # the build's own stage timings
    assert {"read", "split", "embed", "articles", "vectors", "keyword", "publish"} <= set(stages)
    assert all(seconds >= 0 for seconds in stages.values()) and stages["keyword"] > 0
    assert results["bbc_as_is"]["duplicate_ids"] == 0  # ids are paths under the folder: no collisions
    assert results["bbc"]["build"]["articles"] == 4
    assert results["keyword_scale"]["articles"] == 25
    assert (tmp_path / "kept" / "reuters" / "manifest.json").exists()


def test_bench_query_runs_and_writes_json(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "query.json"
    bench_query.main([str(data), "--model", MODEL, "--queries", "12", "--warmup", "2", "--cold-runs", "1",
                      "--no-wait", "--out", str(out)])
    payload = json.loads(out.read_text())
    warm, cold = payload["results"]["warm"], payload["results"]["cold"]
    assert len(payload["queries"]) == 12
    for mode in ("keyword", "semantic", "hybrid"):
        assert warm[mode]["n"] == 12 and warm[mode]["p95_ms"] >= warm[mode]["p50_ms"] > 0
    assert set(cold) == {"accord search --mode keyword", "accord search --mode hybrid", "accord --help",
                         "python -c pass"}
    assert all(c["median_s"] > 0 for c in cold.values())


def test_bench_scale_replicates_measures_and_reuses_the_cache(data: Path, tmp_path: Path) -> None:
    work, out = tmp_path / "scale", tmp_path / "scale.json"
    argv = [str(data), "--sizes", "10", "25", "--work", str(work), "--queries", "8", "--warmup", "1",
            "--model", MODEL, "--no-wait", "--out", str(out)]
    bench_scale.main(argv)
    first = json.loads(out.read_text())["sizes"]
    records = [json.loads(line) for line in (work / "reuters-25.jsonl").read_text().splitlines()]
    assert len(records) == 25 and len({r["id"] for r in records}) == 25
    assert records[10]["id"] == f"{records[0]['id']}-copy1" and records[10]["body"] == records[0]["body"]
    assert records[20]["date"].startswith("26-FEB-1989")  # the second copy is dated two years on
    for size in ("10", "25"):
        measured = first[size]["query"]
        assert measured["articles"] == int(size)
        for name in (*bench_scale.MODES, *bench_scale.LEGS):
            assert measured["results"][name]["n"] == 8 and measured["results"][name]["p50_ms"] > 0
        assert measured["rss"]["peak_mib"] >= measured["rss"]["opened_mib"] > 0
    assert first["10"]["build"]["embedded"] > 0
    assert first["25"]["build"]["embedded"] == 0  # copies' passages are the same texts: all cached

    bench_scale.main(argv)  # a second run finds its indexes current and embeds nothing
    again = json.loads(out.read_text())["sizes"]
    assert again["10"]["build"]["embedded"] == 0 and again["25"]["build"]["added"] == 0


def test_queries_are_varied_and_reproducible(data: Path) -> None:
    gz = data / "reuters21578" / "reuters21578.jsonl.gz"
    queries = bench_query.make_queries(gz, 20, seed=1)
    assert queries == bench_query.make_queries(gz, 20, seed=1)
    assert len({text for _kind, text in queries}) == 20
    assert {kind for kind, _text in queries} == {kind for kind, _share in bench_query.SHARES}


def test_peers_without_the_bench_extra_names_it_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for module in peers.PEER_MODULES:
        monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(SystemExit) as exit_info:
        peers.main([str(tmp_path)])
    message = str(exit_info.value.code)
    assert "\n" not in message and "pip install -e '.[bench]'" in message
    assert all(module in message for module in peers.PEER_MODULES)


def test_bench_concurrency_runs_every_thread_count_without_mismatches(data: Path, tmp_path: Path) -> None:
    from benchmarks.query_speed import bench_concurrency
    from index.pipeline.builder import build
    from tests.conftest import HashingEncoder

    corpus = tmp_path / "reuters.jsonl"
    bench_index.convert_reuters(data / bench_index.REUTERS, corpus, None)
    build([corpus], tmp_path / "index", encoder=HashingEncoder())
    out = tmp_path / "concurrency.json"
    payload = bench_concurrency.main(["--index", str(tmp_path / "index"), "--data", str(data), "--queries", "8",
                                      "--threads", "1", "3", "--warmup", "2", "--no-wait", "--out", str(out)])
    assert [r["threads"] for r in payload["results"]] == [1, 3]
    assert all(r["queries"] == 8 and r["mismatches"] == 0 and r["errors"] == 0 for r in payload["results"])
    assert json.loads(out.read_text())["benchmark"] == "bench_concurrency"


@pytest.mark.parametrize("switch", ["held-articles", "held-feedback", "deep-fetch-faiss"])
def test_bench_in_turns_times_a_part_on_and_off_with_the_same_hits(data: Path, tmp_path: Path, switch: str) -> None:
    from benchmarks.query_speed import bench_in_turns
    from index.pipeline.builder import build
    from index.storage import vectors
    from tests.conftest import HashingEncoder

    corpus = tmp_path / "reuters.jsonl"
    bench_index.convert_reuters(data / bench_index.REUTERS, corpus, None)
    build([corpus], tmp_path / "index", encoder=HashingEncoder())
    share = vectors.SCAN_MAX_SHARE
    payload = bench_in_turns.main([str(tmp_path / "index"), str(data), "--switch", switch, "--queries", "6",
                                   "--warmup", "1", "--out", str(tmp_path / "turns.json")])
    assert payload["queries"] == 6 and payload["same_hits"] == 6
    assert payload["on"]["n"] == payload["off"]["n"] == 6 and payload["ratios"]["p50_ms"] > 0
    assert json.loads((tmp_path / "turns.json").read_text())["switch"] == switch
    assert vectors.SCAN_MAX_SHARE == share  # left on, as it found it


def test_views_benchmarks_run(tmp_path, corpus_dir, capsys, monkeypatch):
    """bench_views times the views on an index; tune_matches prints its table of cut-off rules."""
    from benchmarks.query_speed import bench_views
    from benchmarks.tuning import tune_matches
    from index.pipeline.builder import build

    build([corpus_dir], tmp_path / "ix", model=FAKE_MODEL)
    out = tmp_path / "views.json"
    monkeypatch.setattr(sys, "argv", ["bench_views.py", "--index", str(tmp_path / "ix"), "--query", "military cooperation",
                                      "--repeat", "2", "--no-wait", "--out", str(out)])
    bench_views.main()
    assert json.loads(out.read_text())["latency"]["pairs"]["n"] == 2
    (tmp_path / "q.tsv").write_text("1\tmilitary cooperation\n2\twheat harvest\n")
    (tmp_path / "qrels").write_text("1 0 iran 1\n1 0 libya 1\n2 0 wheat 1\n")
    monkeypatch.setattr(sys, "argv", ["tune_matches.py", "--docs", str(corpus_dir), "--queries", str(tmp_path / "q.tsv"),
                                      "--qrels", str(tmp_path / "qrels"), "--index", str(tmp_path / "tune"), "--model", MODEL])
    capsys.readouterr()
    tune_matches.main()
    table = capsys.readouterr().out
    assert "| cosine >= 0.40 |" in table and "| keyword leg (any query term) |" in table



def test_bench_models_measures_each_model_in_its_own_process(tmp_path: Path, capsys) -> None:
    from benchmarks.tuning import bench_models

    data = tmp_path / "collection"
    data.mkdir()
    data.joinpath("docs.jsonl").write_text("".join(
        json.dumps({"docno": str(n), "text": f"{_text(n, 40)}. {_text(n + 1, 30)}."}) + "\n" for n in range(6)))
    data.joinpath("queries-dev.tsv").write_text("1\toil price\n3\twheat export\n")
    out = tmp_path / "models.json"
    bench_models.main([str(data), "--passages", "8", "--models", MODEL, MODEL, "--no-wait", "--out", str(out)])
    results = json.loads(out.read_text())["results"]
    assert [r["model"] for r in results] == [FAKE_MODEL, FAKE_MODEL]
    assert all(r["passages"] == 8 and r["passages_per_s"] > 0 and r["peak_rss_mib"] > 0 for r in results)
    assert "| passages/s |" in capsys.readouterr().out


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("bm25s", "Stemmer", "txtai")),
                    reason="the bench extra is not installed")
def test_bench_peers_warm_measures_every_system_and_reuses_its_indexes(data: Path, tmp_path: Path, capsys) -> None:
    from benchmarks.query_speed import bench_peers_warm

    ag_news = data / "ag_news"
    ag_news.mkdir()
    (ag_news / "test.csv").write_text("".join(f'"1","agency story {n}","{_text(n + 3, 20)}."\n' for n in range(40)))
    work, out = tmp_path / "peers_warm", tmp_path / "peers_warm.json"
    argv = [str(data), "--sizes", "20", "all", "60", "--add", "2", "--queries", "6", "--warmup", "1",
            "--work", str(work), "--model", MODEL, "--out", str(out)]
    bench_peers_warm.main(argv)
    sizes = json.loads(out.read_text())["sizes"]
    assert list(sizes) == ["20", "46", "60"]  # 54 distinct articles, 8 kept for the updates
    for result in sizes.values():
        assert all(result["latency"][name]["cpu"]["n"] == 6 for name in result["latency"])
        assert {"Accord hybrid", bench_peers_warm.RANKING, "bm25s (top 10)", "txtai hybrid", bench_peers_warm.VECTOR} <= set(result["latency"])
        assert [r["added"] for r in result["updates"]["rounds"]] == [2, 2, 2, 2]
        assert result["build"]["segments_after_build"] == 1
    printed = capsys.readouterr().out
    assert sizes["60"]["distinct"] == 46 and "copied" in printed and "beyond the query's vector" in printed
    built = (work / "index-60.json").read_text()
    bench_peers_warm.main(argv)  # the indexes are reused, not built again
    assert (work / "index-60.json").read_text() == built
