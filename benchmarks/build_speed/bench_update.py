"""Incremental update cost: time to add 10 articles to an index of 2k and of 20k articles.

    python -m benchmarks.build_speed.bench_update DATA/reuters21578 [--sizes 2000 20000] [--out FILE]

Reuters-21578 articles are written as JSONL files of 500 articles each (a folder an analyst
drops files into); the base index is built once, then a new file with 10 unseen articles is
added and `accord index` (the `build` API) is timed. The claim checked: the update costs about
the same at 2k and 20k articles, because unchanged files are only stat-ed, never re-read or
re-embedded. `--fake-encoder` builds the large base with the test suite's deterministic hashing
encoder instead of all-MiniLM-L6-v2 (embedding 20k articles takes most of an hour on 2 cores);
the update then measures everything but the model, which costs the same for 10 articles at any
index size. The output says which encoder was used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.corpora import CHUNK, reuters_articles, write_chunks
from index.pipeline.builder import build


def measure(records: list[dict], size: int, added: int, encoder, work: Path) -> dict:
    corpus, index_dir = work / f"corpus-{size}", work / f"index-{size}"
    write_chunks(corpus, records[:size], "base")
    old = time.time() - 3600  # an hour-old corpus, as an analyst's folder is
    for path in corpus.iterdir():
        os.utime(path, (old, old))
    started = time.perf_counter()
    build([corpus], index_dir, encoder=encoder)
    full = time.perf_counter() - started
    write_chunks(corpus, records[size : size + added], "new")
    started = time.perf_counter()
    report = build([], index_dir, encoder=encoder)
    update = time.perf_counter() - started
    return {"articles": size, "added": report.added, "files_read": report.files_read,
            "embedded": report.embedded, "full_build_s": round(full, 2), "update_s": round(update, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the reuters21578 folder")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--add", type=int, default=10)
    parser.add_argument("--fake-encoder", action="store_true", help="hashing encoder instead of the model")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.fake_encoder:
        from tests.conftest import HashingEncoder

        encoder, encoder_name = HashingEncoder(), "deterministic hashing encoder (tests/conftest.py), model excluded"
    else:
        from index.embedding.torch_encoder import MiniLMEncoder

        encoder, encoder_name = MiniLMEncoder(), "all-MiniLM-L6-v2 (sentence-transformers, CPU)"
    records = reuters_articles(args.data)
    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, load {os.getloadavg()[0]:.2f}; encoder: {encoder_name}")
    print(f"corpus: Reuters-21578, {len(records)} articles with a body, JSONL files of {CHUNK}\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            if size + args.add > len(records):
                raise SystemExit(f"--sizes {size}: Reuters has only {len(records)} articles with a body")
            rows.append(measure(records, size, args.add, encoder, Path(tmp)))
    print("| articles | full build (s) | add 10: files read | add 10: embedded | add 10: update (s) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['articles']} | {r['full_build_s']} | {r['files_read']} | {r['embedded']} | {r['update_s']} |")
    if args.out:
        args.out.write_text(json.dumps({"encoder": encoder_name, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
