"""A large update in batches: peak memory, time to the first progress event, generations.

    python -m benchmarks.build_speed.bench_batches [--articles 4000] [--commit-every 5000 1000000000] [--no-wait] [--out FILE]

Writes one synthetic JSONL file (random words, 35 sentences per article: ~10 MB and ~36,000
passages at the default size) and builds an index of it once per `--commit-every` value, each in
a fresh process so peak memory is that build's alone. A value larger than the passage count is
the old behaviour: everything split, embedded and held, then published once. The encoder is the
test suite's deterministic hashing encoder, so the numbers measure everything but the model
(whose memory per batch is fixed). Timings on a shared machine are compared within one run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common.machine import REPO, add_run_options, command_line, finish, header, machine_info, wait_for_quiet

ONE_BUILD = """
import json, resource, sys, time
sys.path.insert(0, {repo!r})
from tests.conftest import HashingEncoder
from index.pipeline.builder import build
started = time.perf_counter()
first = {{}}
def progress(stage, done, total):
    first.setdefault(stage, round(time.perf_counter() - started, 2))
report = build([{source!r}], {index!r}, encoder=HashingEncoder(), commit_every={every}, progress=progress)
print(json.dumps({{"commit_every": {every}, "passages": report.passages, "generations": report.generations,
    "seconds": round(time.perf_counter() - started, 1), "first_progress_s": first,
    "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}}))
"""


def write_corpus(path: Path, articles: int) -> None:
    rng = random.Random(3)
    words = [f"w{i}" for i in range(5000)]
    with path.open("w") as out:
        for i in range(articles):
            body = ". ".join(" ".join(rng.choices(words, k=12)) for _ in range(35)) + "."
            out.write(json.dumps({"id": str(i), "title": f"Title {i}", "body": body}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=4000)
    parser.add_argument("--commit-every", type=int, nargs="+", default=[5000, 1_000_000_000])
    add_run_options(parser)
    args = parser.parse_args()
    info = machine_info()
    print(header("Batched update", command_line(__file__, sys.argv[1:]), info))
    if not args.no_wait:
        wait_for_quiet(args.max_load, args.max_wait)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.jsonl"
        write_corpus(source, args.articles)
        print(f"input: {source.stat().st_size / 1e6:.1f} MB, {args.articles} articles")
        for every in args.commit_every:
            script = ONE_BUILD.format(repo=str(REPO), source=str(source), index=str(Path(tmp) / f"ix-{every}"), every=every)
            line = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
            results.append(json.loads(line.strip().splitlines()[-1]))
            print(json.dumps(results[-1]))
    finish(args.out, {"machine": info, "articles": args.articles, "results": results})


if __name__ == "__main__":
    main()
