"""Tune Accord's query-time ranking on three dev collections at once: TIME dev, CISI, Cranfield.

    python -m benchmarks.tuning.tune_dev DATA/time DATA/cisi DATA/cran \
        --work WORK/ranking --legs-out WORK/ranking/legs.pkl

Each collection is indexed once with the default build settings (embeddings shared through one
cache in `--work`), then each leg is run once per judged query (top 1000) and saved. Every
query-time variant (BM25 k1/b, fusion method and weight, normalisation, passage pooling) is then
computed from those runs with the same pure functions the engine uses and scored with
ir-measures. Queries are passed as typed, as `accord eval` passes them: the engine reads a
malformed one as plain words.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common.devsets import load_collection
from index.embedding.encoder import embed_queries
from index.pipeline.builder import build
from index.storage.manifest import BuildSettings
from index.text.passages import SPLITTERS
from search.engine import Engine, RankingConfig

FETCH = 1000
K1S = (0.9, 1.2, 1.5, 2.0)
BS = (0.5, 0.75, 0.9)


def passage_runs(engine: Engine, text: str, passages: int) -> dict[str, list[float]]:
    """Each article's passage scores (best first) among the top `passages` passages for `text`."""
    from search.query import parse_query

    with engine.view() as generation:  # passage-level scores: below what a search returns
        parsed = parse_query(text, settings=generation.manifest.settings)
        vector = embed_queries(engine.encoder, [parsed.embed_text or text])[0]
        found = generation.vectors.search(vector, min(passages, len(generation.vectors)), None)
        article_of = generation.docs.passage_articles([pid for pid, _ in found])
    scores: dict[str, list[float]] = {}
    for pid, score in found:
        scores.setdefault(article_of[pid], []).append(float(score))
    return scores


def index_name(collection: str, settings: BuildSettings) -> str:
    """The folder under --work of a collection's index built with `settings`."""
    name = f"{collection}-p{settings.passage_tokens}-o{settings.overlap_sentences}"
    return name if settings.sentence_splitter == "regex" else f"{name}-{settings.sentence_splitter}"


def collect(folder: Path, work: Path, settings: BuildSettings, k1s=K1S, bs=BS) -> dict:
    """Both legs of every judged query on one collection, for every BM25 setting asked for."""
    coll = load_collection(folder)
    queries = coll.queries
    index_dir = work / index_name(coll.name, settings)
    started = time.perf_counter()
    report = build([coll.docs], index_dir, settings=settings, rebuild=True, embedding_cache=work / "embeddings.sqlite")
    print(f"{coll.name}: {report.articles} articles, {report.passages} passages, {report.embedded} embedded, "
          f"build {time.perf_counter() - started:.0f}s", flush=True)
    keyword: dict[tuple[float, float], dict] = {}
    for k1 in k1s:
        for b in bs:
            with Engine.open(index_dir, ranking=RankingConfig(bm25_k1=k1, bm25_b=b)) as engine:
                keyword[(k1, b)] = {q: engine.keyword_run(t, FETCH) for q, t in queries.items()}
    with Engine.open(index_dir) as engine:
        passages = {q: passage_runs(engine, t, FETCH * 8) for q, t in queries.items()}
    return {"name": coll.name, "qrels": coll.qrels, "keyword": keyword, "passages": passages,
            "articles": report.articles, "passage_count": report.passages}


def keyword_legs(folder: Path, work: Path, settings: BuildSettings, k1s=K1S, bs=BS) -> dict:
    """The keyword leg alone for every BM25 setting, from a whoosh index built without embeddings
    (the semantic leg does not change with the analyzer, so its saved runs are reused)."""
    import tempfile

    from benchmarks.common.devsets import keyword_run, read_collection_articles, write_keyword_only
    from index.storage.keyword import WhooshKeywordStore

    coll = load_collection(folder)
    articles = read_collection_articles(coll.docs)
    keyword: dict[tuple[float, float], dict] = {}
    with tempfile.TemporaryDirectory(prefix="keyword-", dir=work) as tmp:
        write_keyword_only(Path(tmp), articles, settings)
        for k1 in k1s:
            for b in bs:
                store = WhooshKeywordStore(Path(tmp), k1, b)
                keyword[(k1, b)] = {q: keyword_run(store, t, FETCH, settings) for q, t in coll.queries.items()}
                store.close()
    return keyword


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "accord-tune-dev")
    parser.add_argument("--legs-out", type=Path, required=True)
    parser.add_argument("--passage-tokens", type=int, default=BuildSettings().passage_tokens)
    parser.add_argument("--overlap", type=int, default=BuildSettings().overlap_sentences)
    parser.add_argument("--splitter", choices=SPLITTERS, default=BuildSettings().sentence_splitter,
                        help="sentence splitter the passages are cut with")
    parser.add_argument("--keyword-only", action="store_true",
                        help="redo only the keyword legs (no embedding) and replace them in --legs-out")
    parser.add_argument("--passages-only", action="store_true",
                        help="run only the semantic passage searches on an index this script built before")
    parser.add_argument("--k1", type=float, nargs="+", default=list(K1S), help="BM25 k1 values to run")
    parser.add_argument("--b", type=float, nargs="+", default=list(BS), help="BM25 b values to run")
    args = parser.parse_args()
    print(f"command: python -m benchmarks.tuning.tune_dev {' '.join(sys.argv[1:])}", flush=True)
    settings = BuildSettings(passage_tokens=args.passage_tokens, overlap_sentences=args.overlap,
                             sentence_splitter=args.splitter)
    args.work.mkdir(parents=True, exist_ok=True)
    legs = pickle.loads(args.legs_out.read_bytes()) if args.legs_out.exists() else {}
    for folder in args.folders:
        if args.passages_only:
            coll = load_collection(folder)
            index_dir = args.work / index_name(coll.name, settings)
            with Engine.open(index_dir) as engine:
                passages = {q: passage_runs(engine, t, FETCH * 8) for q, t in coll.queries.items()}
            legs.setdefault(coll.name, {"name": coll.name, "qrels": coll.qrels})["passages"] = passages
            print(f"{coll.name}: passage runs done", flush=True)
        elif args.keyword_only:
            entry = legs.setdefault(folder.name, {"name": folder.name, "qrels": load_collection(folder).qrels})
            entry["keyword"] = keyword_legs(folder, args.work, settings, args.k1, args.b)
            print(f"{folder.name}: keyword legs redone", flush=True)
        else:
            legs[folder.name] = collect(folder, args.work, settings, args.k1, args.b)
        args.legs_out.write_bytes(pickle.dumps(legs))


if __name__ == "__main__":
    main()
