"""Sentence splitters side by side on the dev collections' bodies: sentences found, sentences/s
and KB/s of Accord's two splitters (`regex`, `syntok`) and, when installed, pysbd (not a
dependency; measured once to choose), all timed in the same run.

    python -m benchmarks.tuning.bench_splitters DATA/time DATA/cisi DATA/cran
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from benchmarks.common.devsets import load_collection, read_collection_articles
from index.text.passages import sentence_spans


def pysbd_splitter():
    """pysbd's spans, or None when pysbd is not installed."""
    try:
        import pysbd
    except ImportError:
        return None
    segmenter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    return lambda text: [(s.start, s.start + len(s.sent.rstrip())) for s in segmenter.segment(text)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.bench_splitters {' '.join(sys.argv[1:])}\n")
    splitters = {"regex": lambda t: sentence_spans(t, "regex"), "syntok": lambda t: sentence_spans(t, "syntok")}
    if (pysbd := pysbd_splitter()) is not None:
        splitters["pysbd"] = pysbd
    sentence_spans("Warm up. Once.", "syntok")  # the import, outside the timing
    print("| collection | splitter | sentences | seconds | sentences/s | KB/s | time vs regex |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for folder in args.folders:
        bodies = [a.body for a in read_collection_articles(load_collection(folder).docs)]
        size = sum(len(b.encode()) for b in bodies)
        base = None
        for name, split in splitters.items():
            started = time.perf_counter()
            found = sum(len(split(body)) for body in bodies)
            seconds = time.perf_counter() - started
            base = base or seconds
            print(f"| {folder.name} | {name} | {found} | {seconds:.2f} | {found / seconds:,.0f} | "
                  f"{size / seconds / 1000:,.0f} | {seconds / base:.0f}x |", flush=True)


if __name__ == "__main__":
    main()
