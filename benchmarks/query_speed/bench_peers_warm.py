"""Warm queries per mode beside bm25s and txtai's hybrid, from 2k to 100k articles, and the cost
of adding 10 articles at each size.

    python -m benchmarks.query_speed.bench_peers_warm DATA --sizes 2000 10000 all 100000 --work runs/peers_warm --out runs/bench_peers_warm.json

Corpus: bench_warm's distinct articles (Reuters-21578 with a body, BBC News and AG News, taken
in turn); the last `UPDATES * --add` of them are kept out of every index for the updates. `all`
is every other distinct article; a size beyond them is made of copies (the same text under a
new id), and every line says how many of its articles are distinct. Each index is built once
into `--work` with `index.pipeline.builder.build` and explicit passage settings (64 tokens,
one sentence of overlap whatever its length, so a later change of defaults does not move the
numbers) in batches of BUILD_BATCH passages (so the larger indexes are built in several
batches and end merged), and reused by the next run with the same size, settings and encoder.

The encoder is the test suite's hashing encoder unless `--model` names another: the same
encoder object gives Accord its passage vectors and txtai its article vectors (txtai's
"external" vectors method with the encoder's `encode` as its transform), for the articles and
for every query, so both sides pay the same for a query's vector. faiss runs on one thread for
both (`faiss.omp_set_num_threads(1)`) and bm25s retrieves on one thread.

Timed, warm, in one process, query by query with the systems in turns (the order rotates by
query); the engine warmed with `Engine.warm()` after it opens, as `accord serve` warms its own
(txtai and bm25s hold their indexes in memory from the start): `Engine.search(q, k=10)` in
keyword, semantic and hybrid mode (a page of hits: titles, snippets, highlights, near-duplicate
groups, match strength); `Engine.candidates(q, "hybrid", limit=30)` (the hybrid's ranking
alone: ids with fused and leg scores, from the candidate lists a k=10 search fuses, which is
what txtai and bm25s return); `Engine.keyword_run` (the keyword
leg alone, 30 candidates, as a k=10 search asks); bm25s (its English stop words, the
Snowball stemmer, tokenising included, top 10, one thread); txtai 9 `Embeddings.search(q, 10)`
of one hybrid index (`hybrid=True`: its BM25 terms index and faiss, defaults otherwise) with
the default weights, and with weights 1.0 (dense only) and 0.0 (its BM25 only); and the query's
vector alone (the shared encoder's `encode([q])`, what both hybrids pay the model), so that each
hybrid's work beyond the model is its p50 less that one's. Wall and CPU (process) time per query.

Then a copy of each index takes four 10-article updates in a row through `build` (a new source
folder of distinct articles), timed in wall and CPU seconds, with the build's stage times and
the keyword segments after each. The exponent of latency against distinct articles is the
slope of a least-squares line through (log articles, log p50 CPU) over the sizes whose articles
are all distinct.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common.corpora import REUTERS, make_queries, write_chunks
from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    require,
    resolve_model,
    timed,
)
from benchmarks.query_speed.bench_warm import keyword_segments, mixed
from search.engine import RankingConfig

PEER_MODULES = ("bm25s", "Stemmer", "txtai", "faiss")
if TYPE_CHECKING:
    from search.engine import Mode

UPDATES = 4
# Candidates each leg fetches for a k=10 search: the engine's min_fetch (100 until the tenth
# round of docs/performance.md section 13, 30 since, with each candidate scored by both legs).
LEG_LIMIT = RankingConfig().min_fetch
RANKING = f"Accord hybrid ranking alone (candidates, {LEG_LIMIT} a leg)"
KEYWORD_LEG = f"Accord keyword leg alone ({LEG_LIMIT})"
VECTOR = "the query's vector alone (the shared encoder's encode)"
K = 10
MODES: tuple[Mode, ...] = ("keyword", "semantic", "hybrid")
# Passages per published generation while building: every generation copies the one before, so
# the default 10,000 would copy a 100k-article index some 30 times; by passages only, not by time,
# so a loaded machine builds the same batches.
BUILD_BATCH = 50_000


def build_settings() -> Any:
    """The passage settings every index here is built with, spelled out."""
    from index.storage.manifest import BuildSettings

    return BuildSettings(passage_tokens=64, overlap_sentences=1, overlap_tokens=0, title_in_passages=True,
                         title_boost=2.0, sentence_splitter="regex")


def corpus(pool: Sequence[dict[str, str]], size: int) -> list[dict[str, str]]:
    """`size` articles: the pool's first ones, then copies of the pool under new ids."""
    out = list(pool[:size])
    copy = 1
    while len(out) < size:
        out += [{**r, "id": f"{r['id']}~copy{copy}"} for r in pool[: size - len(out)]]
        copy += 1
    return out


def ensure_index(records: list[dict[str, str]], size: int, model: str, work: Path) -> tuple[Path, dict[str, Any]]:
    """The index of these `records` under `work`, built now unless a run before built it with
    the same size, settings and encoder; with its build facts."""
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build

    index_dir, marker = work / f"index-{size}", work / f"index-{size}.json"
    from index.storage.manifest import read_manifest

    settings = build_settings()
    wanted = {"size": size, "model": model, "first": records[0]["id"], "last": records[-1]["id"],
              "commit_every": BUILD_BATCH}
    if marker.exists():
        facts = json.loads(marker.read_text())
        # The settings as the index's own manifest reads them (a field added since reads as
        # the value that index was built with).
        same = {k: facts.get(k) for k in wanted} == wanted and (index_dir / "manifest.json").exists()
        if same and read_manifest(index_dir).settings == settings:
            return index_dir, facts
    shutil.rmtree(index_dir, ignore_errors=True)
    source = work / f"corpus-{size}"
    shutil.rmtree(source, ignore_errors=True)
    write_chunks(source, records, "base")
    started, cpu = time.perf_counter(), time.process_time()
    report = build([source], index_dir, encoder=encoder_for(model), settings=settings, commit_every=BUILD_BATCH,
                   publish_seconds=0)
    facts = {**wanted, "settings": asdict(settings), "build_s": time.perf_counter() - started, "build_cpu_s": time.process_time() - cpu,
             "generations": report.generations, "passages": report.passages,
             "segments_after_build": keyword_segments(index_dir), "stage_seconds": report.stage_seconds}
    marker.write_text(json.dumps(facts, indent=2) + "\n")
    return index_dir, facts


def text_of(record: dict[str, str]) -> str:
    return f"{record['title']}\n\n{record['body']}" if record["title"] else record["body"]


def peers(records: list[dict[str, str]], encode: Callable[[list[str]], Any]) -> tuple[dict[str, Callable[[str], Any]], dict[str, float]]:
    """bm25s and txtai over `records`, as query functions by name, and their indexing seconds."""
    import bm25s
    import Stemmer
    from txtai import Embeddings

    texts = [text_of(r) for r in records]
    count = len(texts)
    stemmer = Stemmer.Stemmer("english")
    started = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    facts = {"bm25s_index_s": time.perf_counter() - started}

    def bm25s_search(query: str) -> Any:
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        if tokens.vocab:
            return retriever.retrieve(tokens, k=min(K, count), show_progress=False, n_threads=1)
        return None

    started = time.perf_counter()
    embeddings = Embeddings(method="external", transform=encode, content=False, hybrid=True)
    embeddings.index((r["id"], text, None) for r, text in zip(records, texts, strict=True))
    facts["txtai_index_s"] = time.perf_counter() - started
    del texts
    systems: dict[str, Callable[[str], Any]] = {
        "bm25s (top 10)": bm25s_search,
        "txtai hybrid": lambda q: embeddings.search(q, K),
        "txtai dense (weights 1)": lambda q: embeddings.search(q, K, weights=1.0),
        "txtai BM25 (weights 0)": lambda q: embeddings.search(q, K, weights=0.0),
    }
    return systems, facts


def updates(index_dir: Path, new: list[dict[str, str]], add: int, model: str, work: Path) -> dict[str, Any]:
    """Four `add`-article updates in a row to a copy of the index: seconds, stages, segments."""
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build

    copy = work / f"{index_dir.name}-update"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(index_dir, copy, symlinks=True)
    source = copy.parent / f"{copy.name}-new"
    shutil.rmtree(source, ignore_errors=True)
    encoder = encoder_for(model)
    rounds: list[dict[str, Any]] = []
    for number in range(UPDATES):
        write_chunks(source, new[number * add : (number + 1) * add], f"new{number}")
        started, used = time.perf_counter(), time.process_time()
        report = build([source] if number == 0 else [], copy, encoder=encoder)
        rounds.append({"s": time.perf_counter() - started, "cpu_s": time.process_time() - used,
                       "added": report.added, "stages": report.stage_seconds, "segments": keyword_segments(copy)})
    shutil.rmtree(copy, ignore_errors=True)
    shutil.rmtree(source, ignore_errors=True)
    return {"rounds": rounds, "median_s": _median([r["s"] for r in rounds]),
            "median_cpu_s": _median([r["cpu_s"] for r in rounds])}


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def exponent(points: Sequence[tuple[int, float]]) -> float | None:
    """The least-squares slope of log latency against log articles (None under two points)."""
    if len(points) < 2:
        return None
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(max(v, 1e-6)) for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def measure(index_dir: Path, records: list[dict[str, str]], queries: list[str], warmup: int, model: str) -> dict[str, Any]:
    from index.embedding.encoder import encoder_for
    from search.engine import Engine

    encoder = encoder_for(model)
    encode = lambda texts: encoder.encode(list(texts))  # noqa: E731
    systems, facts = peers(records, encode)
    with Engine.open(index_dir, encoder=encoder) as engine:
        engine.warm()  # as `accord serve` warms its engine at start
        def mode_search(mode: Mode) -> Callable[[str], Any]:
            return lambda q: engine.search(q, k=K, mode=mode)

        ours = {f"Accord {mode}": mode_search(mode) for mode in MODES}
        ours[RANKING] = lambda q: engine.candidates(q, mode="hybrid", limit=LEG_LIMIT)
        ours[KEYWORD_LEG] = lambda q: engine.keyword_run(q, LEG_LIMIT)
        # What both hybrids pay the model, so that what each does beyond it can be told apart.
        model_only = {VECTOR: lambda q: encode([q])}
        latencies = timed({**ours, **systems, **model_only}, queries, warmup)
    return {"latency": latencies, "peer_index": facts}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/, bbc/, ag_news/)")
    parser.add_argument("--sizes", nargs="+", default=["2000", "10000", "all", "100000"],
                        help="articles per index; 'all' is every distinct article not kept for the updates")
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpora and indexes (kept and reused)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--add", type=int, default=10, help="articles each timed update adds")
    parser.add_argument("--build-only", action="store_true", help="build (or keep) the indexes and stop")
    parser.add_argument("--out", type=Path)
    add_model_option(parser)
    parser.set_defaults(model="tests.conftest:test/hashing-bag-of-words")
    args = parser.parse_args(argv)
    require(PEER_MODULES, __file__)
    model = resolve_model(args.model)
    distinct = mixed(args.data)
    new, pool = distinct[-UPDATES * args.add :], distinct[: -UPDATES * args.add]
    sizes = [len(pool) if s == "all" else int(s) for s in args.sizes]
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    import faiss

    faiss.omp_set_num_threads(1)
    info = machine_info()
    print(header("Warm queries beside bm25s and txtai, and 10-article updates, by index size",
                 command_line(__file__, argv), info))
    args.work.mkdir(parents=True, exist_ok=True)
    sampler = LoadSampler().start()
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        records = corpus(pool, size)
        index_dir, built = ensure_index(records, size, model, args.work)
        print(f"index of {size:,} articles ready (build {built['build_s']:.0f} s, "
              f"{built['segments_after_build']} keyword segment(s))", flush=True)
        if args.build_only:
            continue
        result = measure(index_dir, records, queries, args.warmup, model)
        result.update({"distinct": min(size, len(pool)), "build": built,
                       "updates": updates(index_dir, new, args.add, model, args.work)})
        results[size] = result
        print(f"measured {size:,} articles", flush=True)
    load = sampler.stop()
    payload: dict[str, Any] = {"benchmark": "bench_peers_warm", "command": command_line(__file__, argv), "machine": info,
                               "model": model, "load_during": load, "sizes": {str(s): r for s, r in results.items()}}
    if results:
        report(results, len(pool), args, model, load)
    finish(args.out, payload)
    return payload


def articles_label(size: int, distinct: int) -> str:
    return f"{size:,}" if size <= distinct else f"{size:,} ({distinct:,} distinct, copied x{size / distinct:.2f})"


def report(results: dict[int, dict[str, Any]], pool: int, args: Any, model: str, load: dict[str, float]) -> None:
    names = list(next(iter(results.values()))["latency"])
    rows = [[articles_label(size, pool), name, r["latency"][name]["wall"]["p50_ms"], r["latency"][name]["wall"]["p95_ms"],
             r["latency"][name]["cpu"]["p50_ms"], r["latency"][name]["cpu"]["p95_ms"]]
            for size, r in results.items() for name in names]
    print(markdown_table(["articles", "system (warm, k=10)", "p50 ms", "p95 ms", "p50 CPU ms", "p95 CPU ms"], rows))
    print()
    for size, r in results.items():
        lat = r["latency"]
        cpu = {name: lat[name]["cpu"]["p50_ms"] for name in names}
        print(f"- {articles_label(size, pool)}: hybrid p50 CPU Accord / txtai {cpu['Accord hybrid'] / cpu['txtai hybrid']:.2f} "
              f"(the ranking alone {cpu[RANKING] / cpu['txtai hybrid']:.2f}); "
              f"keyword p50 CPU Accord / bm25s {cpu['Accord keyword'] / cpu['bm25s (top 10)']:.2f} "
              f"(the leg alone {cpu[KEYWORD_LEG] / cpu['bm25s (top 10)']:.2f}); "
              f"semantic Accord / txtai dense {cpu['Accord semantic'] / cpu['txtai dense (weights 1)']:.2f}")
        if VECTOR in cpu:  # runs saved before the row existed lack it
            beyond = {name: cpu[name] - cpu[VECTOR] for name in ("Accord hybrid", RANKING, "txtai hybrid")}
            print(f"  beyond the query's vector ({cpu[VECTOR]:.2f} ms of each): Accord hybrid {beyond['Accord hybrid']:.2f} ms, "
                  f"its ranking alone {beyond[RANKING]:.2f}, txtai hybrid {beyond['txtai hybrid']:.2f} "
                  f"(p50s less the vector's p50)")
    print()
    distinct_sizes = [s for s in results if s <= pool]
    for name in names:
        slope = exponent([(s, results[s]["latency"][name]["cpu"]["p50_ms"]) for s in distinct_sizes])
        slope_all = exponent([(s, results[s]["latency"][name]["cpu"]["p50_ms"]) for s in results])
        if slope is not None:
            print(f"- {name}: p50 CPU grows as articles^{slope:.2f} over {', '.join(f'{s:,}' for s in distinct_sizes)} distinct"
                  + (f"; ^{slope_all:.2f} with the copied sizes" if slope_all is not None and len(results) > len(distinct_sizes) else ""))
    print()
    print(markdown_table(
        ["articles", "build s (CPU s)", "segments after build", f"add {args.add}: s, {UPDATES} in a row",
         "CPU s, median", "copy s", "keyword s", "segments after each"],
        [[articles_label(size, pool), f"{r['build']['build_s']:.0f} ({r['build']['build_cpu_s']:.0f})",
          r["build"]["segments_after_build"], " / ".join(f"{u['s']:.2f}" for u in r["updates"]["rounds"]),
          r["updates"]["median_cpu_s"], " / ".join(f"{u['stages'].get('copy', 0):.2f}" for u in r["updates"]["rounds"]),
          " / ".join(f"{u['stages'].get('keyword', 0):.2f}" for u in r["updates"]["rounds"]),
          " / ".join(str(u["segments"]) for u in r["updates"]["rounds"])] for size, r in results.items()]))
    if len(distinct_sizes) > 1:
        small, large = min(distinct_sizes), max(distinct_sizes)
        ratio = results[large]["updates"]["median_cpu_s"] / results[small]["updates"]["median_cpu_s"]
        print(f"\n- update CPU, median of {UPDATES}: {large:,} / {small:,} articles = {ratio:.2f}")
    print(f"- {args.queries} Reuters queries (seed {args.seed}), {args.warmup} per system first as warm-up; encoder {model} "
          "for Accord and txtai alike; faiss on one thread")
    print(f"- load average (1 min) while measuring: mean {load['mean']}, max {load['max']}")


if __name__ == "__main__":
    main()
