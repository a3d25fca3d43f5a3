"""One warmed engine's searches with one of its parts switched on and off, in turns, query by query:
p50, mean and p95 CPU with the part and without, their ratios, and on how many queries the two
gave the same hits.

    python -m benchmarks.query_speed.bench_in_turns INDEX DATA --switch held-articles --queries 300 --out runs/in_turns.json

The engine is opened and warmed (`Engine.warm`, as `accord serve` warms its own); queries are
Reuters queries (bench_query.py's, seed 21578); each query runs once with the part on and once
off, the order alternating, after `--warmup` queries run both ways. Timing the two in one
process, in turns, is what tells a change of a few percent apart on a shared machine, where two
runs of the same benchmark differ by more than that.

Switches (`--switch`):

- `held-articles`: a page's articles from the reader's memory (`DocStore.hold`, the articles kept
  while their text is at most `HELD_ARTICLE_CHARS`) or read from SQLite, page by page: two
  engines over the index with one encoder, the second opened with a budget no text fits. (An
  index over the budget holds no articles in either: the two then measure the same thing.)
- `held-feedback`: a search's feedback documents (the stored terms of the keyword leg's best
  articles) held prepared since warm-up (`Bo1Expansion.hold_documents`, up to `HELD_TERMS`
  terms) or read and prepared as the search meets them (kept afterwards, up to
  `CACHED_DOCUMENTS`): two engines, the second warmed with a budget of no terms.
- `deep-fetch-faiss`: a vector search for more than `SCAN_MAX_SHARE` of a store's vectors goes
  to faiss's own scan, or (off) to the compressed copy like every other search: one engine,
  the share set before each search.

Prints a markdown table, the command, the machine and the load; --out writes JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import REUTERS, make_queries
from benchmarks.common.machine import (
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    resolve_model,
    timed,
)

SWITCHES = ("held-articles", "held-feedback", "deep-fetch-faiss")


def engines_for(switch: str, index: Path, encoder: Any, stack: ExitStack) -> tuple[dict[bool, Any], Callable[[bool], None]]:
    """The warmed engine searching with the part on (True) and off (False), and what turns the
    part on or off before a search (nothing, when they are two engines)."""
    from index.storage import docstore, keyword_feedback, vectors
    from search.engine import Engine

    def opened() -> Any:
        engine = stack.enter_context(Engine.open(index, encoder=encoder))
        engine.warm()  # as `accord serve` warms its engine at start
        return engine

    if switch == "held-articles":
        # Two engines over the index, the same encoder: one whose reader keeps no articles (no
        # text fits a budget under zero characters) and one as every reader is now.
        budget = docstore.HELD_ARTICLE_CHARS
        docstore.HELD_ARTICLE_CHARS = -1
        try:
            off = opened()
        finally:
            docstore.HELD_ARTICLE_CHARS = budget
        return {True: opened(), False: off}, lambda _on: None
    if switch == "held-feedback":
        # Two engines: one warmed holding no feedback documents (a budget of no terms), and one
        # warmed as every engine is now.
        terms = keyword_feedback.HELD_TERMS
        keyword_feedback.HELD_TERMS = 0
        try:
            off = opened()
        finally:
            keyword_feedback.HELD_TERMS = terms
        return {True: opened(), False: off}, lambda _on: None
    engine = opened()
    share = vectors.SCAN_MAX_SHARE

    def deep_fetch(on: bool) -> None:
        vectors.SCAN_MAX_SHARE = share if on else 1.0

    return {True: engine, False: engine}, deep_fetch


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("index", type=Path, help="an index folder")
    parser.add_argument("data", type=Path, help="the data folder (its reuters21578/ gives the queries)")
    parser.add_argument("--switch", choices=SWITCHES, required=True)
    parser.add_argument("--mode", choices=("hybrid", "semantic", "keyword"), default="hybrid")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--model", help="the encoder, or MODULE:NAME to import MODULE first (default: the index's)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    from index.embedding.encoder import encoder_for
    from index.storage.manifest import read_manifest

    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    info = machine_info()
    print(header(f"One part on and off in turns: {args.switch}", command_line(__file__, argv), info))
    encoder = encoder_for(resolve_model(args.model) if args.model else read_manifest(args.index).model)
    with ExitStack() as stack:
        engines, turn = engines_for(args.switch, args.index, encoder, stack)
        hits: dict[bool, dict[str, Any]] = {True: {}, False: {}}

        def searching(on: bool) -> Callable[[str], None]:
            def search(text: str) -> None:
                turn(on)
                hits[on][text] = engines[on].search(text, k=10, mode=args.mode).hits

            return search

        latencies = timed({"on": searching(True), "off": searching(False)}, queries, args.warmup)
        turn(True)
    same = sum(hits[True][text] == hits[False][text] for text in queries)
    on, off = latencies["on"]["cpu"], latencies["off"]["cpu"]
    ratios = {key: on[key] / off[key] for key in ("p50_ms", "mean_ms", "p95_ms")}
    print(markdown_table(
        ["switch", "mode", "queries", "p50 CPU ms on / off", "p50 on / off", "mean on / off", "p95 on / off", "same hits"],
        [[args.switch, args.mode, len(queries), f"{on['p50_ms']:.2f} / {off['p50_ms']:.2f}", f"{ratios['p50_ms']:.3f}",
          f"{ratios['mean_ms']:.3f}", f"{ratios['p95_ms']:.3f}", f"{same} of {len(queries)}"]]))
    payload = {"benchmark": "bench_in_turns", "command": command_line(__file__, argv), "machine": info,
               "switch": args.switch, "mode": args.mode, "on": on, "off": off, "ratios": ratios,
               "same_hits": same, "queries": len(queries)}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
