"""Is the first page a search serves the first page of a deeper search? Per dev collection and
per way the convex fusion scales its legs: nDCG@10 of the first page of ten as served (k=10,
each leg fetched 100 deep) and of the first ten of the top 100 (k=100, each leg 1,000 deep, what
`accord eval` scores), and on how many queries the two first pages are the same ten articles in
the same order (docs/tuning.md, D table).

    python -m benchmarks.tuning.page_depth DATA --indexes WORK

A search for k hits asks each leg for max(fetch_factor * k, min_fetch) candidates. Min-max
scaling maps each leg's lowest fetched score to 0, so an article's share of the fused score
moves with the depth; dividing by the leg's best score does not. Indexes are built or reused at
`WORK/<collection>` like tune_loco.py's (build defaults, the index's own model); queries as typed,
each embedded once. Prints a markdown table, the command and the machine; --json writes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.common.devsets import DEV_COLLECTIONS, load_collection
from benchmarks.common.machine import command_line, header, machine_info, markdown_table
from benchmarks.tuning.tune_loco import PAGE, QueryVectors
from index.pipeline.builder import build
from search.engine import Engine, RankingConfig
from search.evaluation import DEPTH, run_queries, score_run
from search.fusion import SCALES

METRIC = "nDCG@10"


def first_pages(folder: Path, index_dir: Path, model: str | None = None) -> list[dict[str, Any]]:
    """One row per scale for the collection in `folder`: both nDCG@10s and the queries whose
    first page is the same at both depths."""
    collection = load_collection(folder)
    build([collection.docs], index_dir, model=model)
    with Engine.open(index_dir) as engine:
        encoder = QueryVectors(engine.encoder)
    rows = []
    for scale in SCALES:
        with Engine.open(index_dir, encoder=encoder, ranking=replace(RankingConfig(), scale=scale)) as engine:
            page = run_queries(engine, collection.queries, "hybrid", PAGE)[0]
            deep = run_queries(engine, collection.queries, "hybrid", DEPTH)[0]
        same = sum([doc for doc, _s in page[qid]] == [doc for doc, _s in deep[qid][:PAGE]] for qid in page)
        rows.append({"collection": folder.name, "scale": scale, "queries": len(page),
                     "first_page": score_run(collection.qrels, page)[METRIC],
                     "top_100": score_run(collection.qrels, deep)[METRIC], "same_first_page": same})
    return rows


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder holding the dev collections (time, cisi, cran)")
    parser.add_argument("--indexes", type=Path, required=True, help="folder of one index per collection, built when missing")
    parser.add_argument("--collections", nargs="+", default=list(DEV_COLLECTIONS), help="collection folders under DATA")
    parser.add_argument("--model", help="embedding model of a new index (default: MiniLM int8)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    for name in args.collections:
        if not (args.data / name / "docs.jsonl").is_file():
            parser.error(f"{args.data / name}: no docs.jsonl; pass the folder holding {', '.join(args.collections)}")
    print(header("The first page against the first ten of a deeper search", command_line(__file__, argv), machine_info()))
    rows = [row for name in args.collections for row in first_pages(args.data / name, args.indexes / name, args.model)]
    print(markdown_table(
        ["collection", "scale", f"{METRIC}, first page (k=10)", f"{METRIC}, top 100 (k=100)", "same first page"],
        [[r["collection"], r["scale"], f"{r['first_page']:.4f}", f"{r['top_100']:.4f}", f"{r['same_first_page']} of {r['queries']}"]
         for r in rows]))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
