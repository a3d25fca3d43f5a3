"""How long the keyword store takes to list every article a boolean query matches.

    python benchmarks/bench_boolean.py INDEX_DIR "said AND NOT oil" "oil AND NOT price"

A boolean query (AND, NOT, a required term) limits the semantic leg to the articles it
matches, so a hybrid search first lists them all (`KeywordStore.matching`). Compares, on the
same whoosh searcher and in one run, reading each matching document's stored id against the
store's document-number -> id map (read once per searcher), medians of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("queries", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from search.engine import Engine
    from search.query import parse_query

    with Engine.open(args.index) as engine, engine._using() as stores:
        keyword = stores.keyword
        searcher, _arrays = keyword._searcher()  # type: ignore[attr-defined]
        keyword.matching(parse_query(args.queries[0]).keyword)  # reads the id map once
        print("| query | matches | stored id per match, ms | id map, ms | ratio |\n|---|---|---|---|---|")
        for text in args.queries:
            tree = parse_query(text).keyword
            per_document, mapped = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                expected = {searcher.stored_fields(d)["id"] for d in searcher.docs_for_query(tree)}
                per_document.append(time.perf_counter() - started)
                started = time.perf_counter()
                found = keyword.matching(tree)
                mapped.append(time.perf_counter() - started)
                assert found == expected
            old, new = statistics.median(per_document), statistics.median(mapped)
            print(f"| {text} | {len(found):,} | {old * 1000:.0f} | {new * 1000:.0f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
