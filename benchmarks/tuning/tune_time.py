"""Tune Accord's ranking on the TIME dev queries: passage settings, title boost and fusion.

    python -m benchmarks.tuning.tune_time DATA/time --out docs/tuning.json

Only the dev queries (`queries-dev.tsv`, `qrels-dev.trec`) are used. For each build setting the
two legs are run once per query (top 1000 each); every fusion variant is then computed from those
runs with the same pure functions the engine uses, and scored with ir-measures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from index.pipeline.builder import build
from index.storage.manifest import BuildSettings
from search.engine import Engine, RankingConfig
from search.evaluation import read_qrels, read_queries, score_run
from search.fusion import convex_fusion, reciprocal_rank_fusion

FETCH = 1000
DEPTH = 100
RRF_KS = (5, 10, 20, 30, 60, 100)
WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def fusions(keyword, semantic):
    yield "keyword", keyword
    yield "semantic", semantic
    for k in RRF_KS:
        yield f"rrf k={k}", reciprocal_rank_fusion([keyword, semantic], k)
    for w in WEIGHTS:
        yield f"convex w={w}", convex_fusion(keyword, semantic, w, "min-max")  # the grid as it was run


def evaluate_setting(data: Path, work: Path, settings: BuildSettings, queries, qrels, ranking: RankingConfig) -> dict[str, dict]:
    key = f"p{settings.passage_tokens}-o{settings.overlap_sentences}-t{int(settings.title_in_passages)}-b{settings.title_boost}"
    index_dir = work / key
    started = time.perf_counter()
    report = build([data / "docs.jsonl"], index_dir, settings=settings, rebuild=True,
                   embedding_cache=work / "embeddings.sqlite")
    build_s = time.perf_counter() - started
    runs: dict[str, dict] = {}
    with Engine.open(index_dir, ranking=ranking) as engine:
        legs = {qid: (engine.keyword_run(text, FETCH), engine.semantic_run(text, FETCH)[0])
                for qid, text in queries.items()}
    for qid, (keyword, semantic) in legs.items():
        for name, fused in fusions(keyword, semantic):
            runs.setdefault(name, {})[qid] = fused[:DEPTH]
    results = {name: score_run(qrels, run) for name, run in runs.items()}
    print(f"{key}: {report.passages} passages, {report.embedded} embedded, build {build_s:.0f}s", flush=True)
    return {"settings": settings.__dict__, "bm25": [ranking.bm25_k1, ranking.bm25_b], "passages": report.passages, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the TIME folder (docs.jsonl, queries-dev.tsv, qrels-dev.trec)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "accord-tune", help="scratch folder for indexes")
    parser.add_argument("--out", type=Path, default=Path("tuning.json"))
    parser.add_argument("--passage-tokens", type=int, nargs="+", default=[64, 128, 192, 254])
    parser.add_argument("--overlap", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--title-in-passages", type=int, nargs="+", default=[1, 0])
    parser.add_argument("--title-boost", type=float, nargs="+", default=[2.0])
    parser.add_argument("--bm25", default="2.0,0.75", help="k1,b of the keyword leg")
    args = parser.parse_args()

    queries = read_queries(args.data / "queries-dev.tsv")
    qrels = read_qrels(args.data / "qrels-dev.trec")
    queries = {q: t for q, t in queries.items() if q in qrels}
    print(f"command: {' '.join(sys.argv)}\nmachine: {platform.machine()}, {platform.python_version()}", flush=True)
    k1, b = (float(x) for x in args.bm25.split(","))
    ranking = RankingConfig(bm25_k1=k1, bm25_b=b)
    out = []
    for tokens, overlap, title, boost in itertools.product(
        args.passage_tokens, args.overlap, args.title_in_passages, args.title_boost
    ):
        settings = BuildSettings(passage_tokens=tokens, overlap_sentences=overlap,
                                 title_in_passages=bool(title), title_boost=boost)
        out.append(evaluate_setting(args.data, args.work, settings, queries, qrels, ranking))
        args.out.write_text(json.dumps(out, indent=1))
    print(markdown_table(out))
    best = max(((r["settings"], name, m["nDCG@10"]) for r in out for name, m in r["results"].items()),
               key=lambda x: x[2])
    print("best:", best)


def markdown_table(out: list[dict]) -> str:
    """nDCG@10 of each passage setting (rows) under each ranking (columns)."""
    names = ["keyword", "semantic", *(f"rrf k={k}" for k in (10, 30, 60)), *(f"convex w={w}" for w in WEIGHTS[:6])]
    lines = ["| passage tokens | overlap | " + " | ".join(names) + " |", "|---:|---:|" + "---:|" * len(names)]
    for r in out:
        s = r["settings"]
        cells = " | ".join(f"{r['results'][n]['nDCG@10']:.4f}" for n in names)
        lines.append(f"| {s['passage_tokens']} | {s['overlap_sentences']} | {cells} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
