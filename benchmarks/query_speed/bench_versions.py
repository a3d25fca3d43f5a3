"""Warm search CPU of two checkouts of Accord in one run, query by query.

    git worktree add WORK/old REV
    python -m benchmarks.query_speed.bench_versions WORK/old . DATA/reuters21578/reuters21578.jsonl.gz --work WORK/versions

Each checkout gets a worker process that builds its own index of the same Reuters articles (with
that checkout's code and its tests' hashing encoder, so no model is loaded and the semantic leg
costs the same vector work in both) and opens one Engine. Every query goes to both workers in a
random order, warm-up pass first; each worker reports the CPU time of `Engine.search` alone.
Prints p50/p95 per mode, the new/old ratio, and how often the top 10 agree (a ranking change
shows there). This is how "old/new in one run" numbers in docs/performance.md are made.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from benchmarks.common.machine import (
    add_run_options,
    command_line,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    wait_for_quiet,
)

MODES = ("keyword", "semantic", "hybrid")

# Runs inside each checkout (its own code first on sys.path): builds the index once, then answers
# "mode<TAB>query" lines with the CPU seconds of one warm search and its top ids.
WORKER = r"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from tests.conftest import FAKE_MODEL
from index.embedding.encoder import encoder_for
from index.pipeline.builder import build
from search.engine import Engine
corpus, index = Path(sys.argv[2]), Path(sys.argv[3])
if not index.exists():
    build([corpus], index, encoder=encoder_for(FAKE_MODEL))
engine = Engine.open(index)
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    mode, query = line.rstrip("\n").split("\t", 1)
    started = time.process_time()
    result = engine.search(query, k=10, mode=mode)
    cpu = time.process_time() - started
    hits = getattr(result, "hits", result)
    print(json.dumps({"cpu": cpu, "ids": [hit.id for hit in hits]}), flush=True)
"""


def reuters_records(gz: Path, limit: int) -> list[dict[str, str]]:
    """The first `limit` Reuters articles with a body, as indexer JSONL records."""
    records = []
    with gzip.open(gz, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if (record.get("body") or "").strip():
                records.append({"id": str(record["newid"]), "title": record.get("title") or "",
                                "body": record["body"], "date": record.get("date") or ""})
            if len(records) >= limit:
                break
    return records


def start_worker(tree: Path, corpus: Path, index: Path) -> subprocess.Popen[str]:
    """A worker process running `tree`'s code on its own index of `corpus`."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve()), "OMP_NUM_THREADS": "1"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(tree.resolve()), str(corpus), str(index)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=tree, env=env)
    assert worker.stdout is not None and json.loads(worker.stdout.readline())["ready"]
    return worker


def ask(worker: subprocess.Popen[str], mode: str, query: str) -> dict:
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.write(f"{mode}\t{query}\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="the checkout to compare against (e.g. a git worktree)")
    parser.add_argument("new", type=Path, help="the checkout being measured")
    parser.add_argument("reuters", type=Path, help="reuters21578.jsonl.gz")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder for the corpus and both indexes")
    add_run_options(parser)
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    waited = 0.0 if args.no_wait else wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = command_line(__file__, argv)
    print(header("Warm searches, two checkouts in one run", command, info), flush=True)

    corpus = args.work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    records = reuters_records(args.reuters, args.articles)
    (corpus / "reuters.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    rng = random.Random(args.seed)
    titles = [r["title"] for r in records if len(r["title"].split()) >= 3]
    queries = [" ".join(title.lower().split()[:6]) for title in rng.sample(titles, min(args.queries, len(titles)))]

    workers = {name: start_worker(tree, corpus, args.work / f"index-{name}")
               for name, tree in (("old", args.old), ("new", args.new))}
    cpu: dict[str, dict[str, list[float]]] = {mode: {"old": [], "new": []} for mode in MODES}
    agree = dict.fromkeys(MODES, 0)
    try:
        for mode in MODES:
            for measured in (False, True):  # a warm-up pass, then the measured one
                for query in queries:
                    order = ["old", "new"] if rng.random() < 0.5 else ["new", "old"]
                    answers = {name: ask(workers[name], mode, query) for name in order}
                    if measured:
                        for name, answer in answers.items():
                            cpu[mode][name].append(answer["cpu"])
                        agree[mode] += answers["old"]["ids"] == answers["new"]["ids"]
    finally:
        for worker in workers.values():
            assert worker.stdin is not None
            worker.stdin.close()
            worker.wait()

    rows, summary = [], {}
    for mode in MODES:
        old, new = latency_summary(cpu[mode]["old"]), latency_summary(cpu[mode]["new"])
        summary[mode] = {"old": old, "new": new, "same_top10": agree[mode]}
        rows.append([mode, old["p50_ms"], new["p50_ms"], f"{new['p50_ms'] / old['p50_ms']:.2f}",
                     old["p95_ms"], new["p95_ms"], f"{agree[mode]}/{len(queries)}"])
    print(f"{len(records)} Reuters articles, {len(queries)} title queries, hashing encoder; CPU ms per search")
    print(markdown_table(["mode", "old p50", "new p50", "new/old", "old p95", "new p95", "same top 10"], rows))
    payload = {"benchmark": "bench_versions", "command": command, "machine": info, "articles": len(records),
               "queries": len(queries), "modes": summary}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
