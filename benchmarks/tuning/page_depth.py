"""Is the first page a search serves the first page of a far deeper search? Per dev collection
and per way the convex fusion scales its legs: nDCG@10 of the first page of ten as served (k=10,
each leg fetched as the engine's defaults say) and of the first page of a search whose legs
are fetched DEEP (1,000) deep, and on how many queries the two are the same ten articles in the
same order (docs/tuning.md, D table).

    python -m benchmarks.tuning.page_depth DATA --indexes WORK

Min-max scaling maps each leg's lowest fetched score to 0, so an article's share of the fused
score moved with the depth; dividing by the leg's best score does not, and scoring each
candidate by both legs (`Engine._completed`) leaves no candidate at 0 from a leg that was merely
not fetched deeper. Indexes are built or reused at `WORK/<collection>` like tune_loco.py's
(build defaults, the index's own model); queries as typed, each embedded once. Prints a markdown
table, the command and the machine; --json writes it.
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
from search.evaluation import run_queries, score_run
from search.fusion import SCALES

METRIC = "nDCG@10"
DEEP = 1000  # candidates a leg for the deep search


def first_pages(folder: Path, index_dir: Path, model: str | None = None) -> list[dict[str, Any]]:
    """One row per scale for the collection in `folder`: both nDCG@10s and the queries whose
    first page is the same at both depths."""
    collection = load_collection(folder)
    build([collection.docs], index_dir, model=model)
    with Engine.open(index_dir) as engine:
        encoder = QueryVectors(engine.encoder)
    rows = []
    for scale in SCALES:
        served = replace(RankingConfig(), scale=scale)
        runs = {}
        for name, ranking in (("served", served), ("deep", replace(served, min_fetch=DEEP, fetch_factor=DEEP // PAGE))):
            with Engine.open(index_dir, encoder=encoder, ranking=ranking) as engine:
                runs[name] = run_queries(engine, collection.queries, "hybrid", PAGE)[0]
        page, deep = runs["served"], runs["deep"]
        same = sum([doc for doc, _s in page[qid]] == [doc for doc, _s in deep[qid]] for qid in page)
        rows.append({"collection": folder.name, "scale": scale, "queries": len(page), "served_depth": served.min_fetch,
                     "first_page": score_run(collection.qrels, page)[METRIC],
                     "deep_first_page": score_run(collection.qrels, deep)[METRIC], "same_first_page": same})
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
    print(header("The first page against a deeper search's", command_line(__file__, argv), machine_info()))
    rows = [row for name in args.collections for row in first_pages(args.data / name, args.indexes / name, args.model)]
    print(markdown_table(
        ["collection", "scale", f"{METRIC}, first page as served", f"{METRIC}, first page, legs {DEEP:,} deep", "same first page"],
        [[r["collection"], r["scale"], f"{r['first_page']:.4f}", f"{r['deep_first_page']:.4f}", f"{r['same_first_page']} of {r['queries']}"]
         for r in rows]))
    print(f"\nServed: each leg fetched max({RankingConfig().fetch_factor} k, {RankingConfig().min_fetch}) deep, "
          "every candidate scored by both legs.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
