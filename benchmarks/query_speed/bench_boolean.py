"""How long the keyword store takes to list every article a boolean query matches.

    python -m benchmarks.query_speed.bench_boolean INDEX_DIR "said AND NOT oil" "oil AND NOT price"

A boolean query (AND, NOT, a required term) limits the semantic leg to the articles it
matches, so a hybrid search first lists them all (`KeywordStore.matching`). Compares, through
the Engine's public seams and in one run, that listing against scoring the same matches with the
keyword leg (`Engine.keyword_run` with a limit of every article), which must find the same
articles; medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("queries", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from search.engine import Engine
    from search.query import parse_query

    with Engine.open(args.index) as engine, engine.view() as view:
        every = view.docs.count_articles()
        view.keyword.matching(parse_query(args.queries[0]).keyword)  # reads the id map once
        print("| query | matches | scored leg, ms | listing, ms | ratio |\n|---|---|---|---|---|")
        for text in args.queries:
            tree = parse_query(text).keyword
            scored, listed = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                expected = {article_id for article_id, _score in engine.keyword_run(text, every)}
                scored.append(time.perf_counter() - started)
                started = time.perf_counter()
                found = view.keyword.matching(tree)
                listed.append(time.perf_counter() - started)
                assert found == expected, text
            old, new = statistics.median(scored), statistics.median(listed)
            print(f"| {text} | {len(found):,} | {old * 1000:.0f} | {new * 1000:.0f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
