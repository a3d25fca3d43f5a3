"""Smoke run of `benchmarks/serving/bench_serve.py` on a tiny index with the fake encoder: the server
starts in its own process, both latency paths and a 2-second load test run, the JSON is written.
No data from ../shared is read and the real model is never loaded."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.serving import bench_serve


def test_bench_serve_runs_and_writes_json(built_index: Path, tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    bench_serve.main(["--index", str(built_index), "--queries", "4", "--warmup", "1", "--clients", "2",
                      "--duration", "2", "--import", "tests.conftest", "--no-wait", "--out", str(out)])
    payload = json.loads(out.read_text())
    assert payload["command"].startswith("python -m benchmarks.serving.bench_serve --index ")
    assert payload["queries"] == 4 and payload["latency"]["articles"] == 4
    assert payload["latency"]["engine"]["n"] == payload["latency"]["api"]["n"] == 4
    assert payload["latency"]["ratio_p50"] > 0
    load = payload["load"]
    assert load["clients"] == 2 and load["requests"] > 0 and load["errors"] == 0
    assert load["seconds"] < 10 and load["p95_ms"] >= load["p50_ms"] > 0


def test_bench_serve_bounds_its_load_test(built_index: Path) -> None:
    import pytest

    for bad in (["--duration", "61"], ["--duration", "0"], ["--clients", "100"]):
        with pytest.raises(SystemExit):
            bench_serve.parse_args(["--index", str(built_index), *bad])
