"""The CPU of 10-article updates by index size, for one checkout of Accord or two in turns (no model).

    git worktree add WORK/old REV
    python -m benchmarks.build_speed.bench_update_versions DATA --checkouts WORK/old . --sizes 2000 10000 all --work runs/peers_warm --out runs/bench_update_versions.json

The indexes are bench_peers_warm's (built once into `--work` with the test suite's hashing
encoder, so the model costs nothing and what is left is the stores' work; see that script for
the corpus). For each size, each checkout gets its own copy of the index's live generation
(flushed to disk before timing) and a worker process with that checkout's code first on
sys.path; then `--rounds` updates of `--add` new distinct articles each (a new JSONL file in a
new source folder, as bench_peers_warm's updates) go to the workers in turns, the same articles
to both. A worker times `build` in CPU and wall seconds and reports its stage times. Prints the
median CPU per checkout and size, its ratio from the smallest size to each larger one, and the
new/old ratio per size.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import write_chunks
from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    wait_for_quiet,
)
from benchmarks.query_speed.bench_peers_warm import UPDATES, corpus, ensure_index
from benchmarks.query_speed.bench_warm import mixed

# Runs inside each checkout: answers {"sources": [...], "index": ...} lines with one update's costs.
WORKER = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from tests.conftest import FAKE_MODEL
from index.embedding.encoder import encoder_for
from index.pipeline.builder import build
encoder = encoder_for(FAKE_MODEL)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    job = json.loads(line)
    started, used = time.perf_counter(), time.process_time()
    report = build(job["sources"], job["index"], encoder=encoder)
    print(json.dumps({"s": time.perf_counter() - started, "cpu_s": time.process_time() - used,
                      "added": report.added, "stages": report.stage_seconds}), flush=True)
"""


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _copy_live(index_dir: Path, target: Path) -> None:
    """The index's manifest, live generation and cache, as a fresh index folder on disk."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    live = json.loads((index_dir / "manifest.json").read_text())["generation"]
    shutil.copytree(index_dir / live, target / live)
    shutil.copytree(index_dir / "cache", target / "cache")
    shutil.copy2(index_dir / "manifest.json", target / "manifest.json")


def _start(checkout: Path) -> subprocess.Popen:
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(checkout.resolve())], cwd=checkout,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert worker.stdin is not None and worker.stdout is not None
    if json.loads(worker.stdout.readline()).get("ready") is not True:
        raise SystemExit(f"{checkout}: the worker did not start")
    return worker


def _ask(worker: subprocess.Popen, job: dict[str, Any]) -> dict[str, Any]:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(json.dumps(job) + "\n")
    worker.stdin.flush()
    line = worker.stdout.readline()
    if not line:
        raise SystemExit("a worker stopped; see its error above")
    return json.loads(line)


def measure(checkouts: list[Path], index_dir: Path, new: list[dict[str, str]], add: int, rounds: int,
            work: Path) -> dict[str, Any]:
    """`rounds` updates of `add` articles to a copy of `index_dir` per checkout, in turns."""
    work = work.resolve()  # the workers run in their checkouts
    copies = [work / f"{index_dir.name}-update-{n}" for n in range(len(checkouts))]
    sources = [work / f"{index_dir.name}-update-{n}-new" for n in range(len(checkouts))]
    for copy, source in zip(copies, sources, strict=True):
        _copy_live(index_dir, copy)
        shutil.rmtree(source, ignore_errors=True)
    os.sync()  # the copies' pages are on disk: no update pays for flushing them
    workers = [_start(checkout) for checkout in checkouts]
    results: list[list[dict[str, Any]]] = [[] for _ in checkouts]
    try:
        for number in range(rounds):
            order = list(range(len(checkouts)))
            if number % 2:
                order.reverse()
            for n in order:
                write_chunks(sources[n], new[number * add : (number + 1) * add], f"new{number}")
                job = {"sources": [str(sources[n])] if number == 0 else [], "index": str(copies[n])}
                results[n].append(_ask(workers[n], job))
    finally:
        for worker in workers:
            if worker.stdin is not None:
                worker.stdin.close()
            worker.wait()
        for path in copies + sources:
            shutil.rmtree(path, ignore_errors=True)
    return {str(checkout): {"rounds": rows, "median_cpu_s": _median([r["cpu_s"] for r in rows]),
                            "median_s": _median([r["s"] for r in rows])}
            for checkout, rows in zip(checkouts, results, strict=True)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/, bbc/, ag_news/)")
    parser.add_argument("--checkouts", type=Path, nargs="+", default=[Path(".")],
                        help="Accord checkouts to compare (old first); each runs its own code")
    parser.add_argument("--sizes", nargs="+", default=["2000", "10000", "all"],
                        help="articles per index, as bench_peers_warm's --sizes")
    parser.add_argument("--work", type=Path, default=Path("runs/peers_warm"), help="bench_peers_warm's --work")
    parser.add_argument("--add", type=int, default=10, help="articles each update adds")
    parser.add_argument("--rounds", type=int, default=UPDATES, help="updates in a row per checkout")
    add_run_options(parser)
    args = parser.parse_args(argv)
    model = "test/hashing-bag-of-words"
    import tests.conftest  # noqa: F401  registers the hashing encoder the indexes are built with

    distinct = mixed(args.data)
    # bench_peers_warm keeps its last UPDATES * add articles out of every index: those are added here.
    new, pool = distinct[-UPDATES * args.add :], distinct[: -UPDATES * args.add]
    if args.rounds * args.add > len(new):
        raise SystemExit(f"--rounds {args.rounds} x --add {args.add}: only {len(new)} articles are kept out of the indexes")
    sizes = [len(pool) if s == "all" else int(s) for s in args.sizes]
    info = machine_info()
    print(header("10-article updates by index size, checkouts in turns (no model)", command_line(__file__, argv), info))
    indexes = {size: ensure_index(corpus(pool, size), size, model, args.work)[0] for size in sizes}
    if not args.no_wait:
        wait_for_quiet(args.max_load, args.max_wait)
    results = {size: measure(args.checkouts, indexes[size], new, args.add, args.rounds, args.work) for size in sizes}
    names = [str(c) for c in args.checkouts]
    rows = []
    for size in sizes:
        row = [f"{size:,}"]
        for name in names:
            r = results[size][name]
            each = " / ".join(f"{x['cpu_s']:.2f}" for x in r["rounds"])
            row.append(f"{r['median_cpu_s']:.2f} ({each})")
            row.append(f"{r['median_cpu_s'] / results[sizes[0]][name]['median_cpu_s']:.2f}")
        if len(names) > 1:
            row.append(f"{results[size][names[-1]]['median_cpu_s'] / results[size][names[0]]['median_cpu_s']:.2f}")
        rows.append(row)
    columns = ["articles"]
    for name in names:
        columns += [f"{name}: CPU s, median (rounds)", f"{name}: / {sizes[0]:,}"]
    if len(names) > 1:
        columns.append(f"{names[-1]} / {names[0]}")
    print(markdown_table(columns, rows))
    payload = {"benchmark": "bench_update_versions", "command": command_line(__file__, argv), "machine": info,
               "sizes": {str(size): r for size, r in results.items()}}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
