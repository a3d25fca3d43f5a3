"""Smoke runs of the benchmark scripts on a tiny synthetic corpus with the fake encoder.

They prove that `benchmarks/bench_index.py`, `bench_query.py` and `bench_scale.py` still run end
to end and write their JSON, and that `benchmarks/peers.py` names the `bench` extra when its peers are
missing. No data from ../shared is read and the real model is never loaded.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

from tests.conftest import FAKE_MODEL

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import bench_index  # noqa: E402
import bench_query  # noqa: E402
import bench_scale  # noqa: E402
import peers  # noqa: E402

MODEL = f"tests.conftest:{FAKE_MODEL}"
WORDS = "oil wheat grain export bank rate dollar opec crude price trade deficit tonnes shares profit".split()


def _text(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(words))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder shaped like ../shared/data: 12 Reuters records (2 without body), 4 BBC files."""
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
    assert payload["command"].startswith("python benchmarks/bench_index.py ")
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
    import bench_concurrency

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
