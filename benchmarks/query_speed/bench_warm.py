"""Warm query latency per mode, and the cost of a small update, on distinct news articles.

    python -m benchmarks.query_speed.bench_warm DATA --sizes 2000 10000 --work runs/warm --out runs/bench_warm.json

Corpus: distinct articles taken in turn from Reuters-21578 (with a body), BBC News and AG News
(no replicated texts), written as JSONL files of 500 articles. Each size is built with
`index.pipeline.builder.build` and the test suite's hashing encoder (`--model` to change it):
the model's cost is the same at any index size and is not what this measures.

Before and after in one run, so both see the same machine load: every query is run once per
line of the table through one open `Engine.search(q, k=10)`, the lines in turns query by
query; "before" runs with the keyword store as it was (feedback reads each best hit's text
from the article store, analyses it and looks every term's collection frequency up through
whoosh, `old_expansion_terms`; no postings kept between queries; one word's matches for the
hits' relevance found through whoosh; indexes under 5,000 articles scored by whoosh), "after"
as the code is now. Then the keyword leg alone (`Engine.keyword_run`, 100 candidates, as a
k=10 search asks) and, with the `bench` extra installed, bm25s on the same articles (its
English stop words, the Snowball stemmer, 100 results, tokenising included), warm. Semantic is "after" only:
nothing here changes it.
Then two copies of the built index take the same four 10-article updates (`--add`) in turns
through `build`, one under the old segment policy (`old_merge_policy`: everything merged once
a commit would leave more than four segments) and one under `keyword.merge_policy`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch

from benchmarks.common.corpora import REUTERS, make_queries, write_chunks
from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    command_line,
    dir_size_mib,
    finish,
    header,
    latency_summary,
    machine_info,
    markdown_table,
    resolve_model,
    stopwatch,
)

MODES = ("keyword", "semantic", "hybrid")
# What is timed: name -> (mode, with the keyword store as it was before).
TIMED = {"keyword, before": ("keyword", True), "keyword, after": ("keyword", False),
         "semantic": ("semantic", False),
         "hybrid, before": ("hybrid", True), "hybrid, after": ("hybrid", False)}
UPDATES = 4
LEG_LIMIT = 100  # candidates a k=10 search's keyword leg fetched when this was measured (30 since)


def reuters(data: Path) -> Iterator[dict[str, str]]:
    with gzip.open(data / REUTERS, "rt", encoding="utf-8") as source:
        for line in source:
            record = json.loads(line)
            if (record.get("body") or "").strip():
                yield {"id": f"reuters-{record['newid']}", "title": record.get("title") or "",
                       "body": record["body"], "date": record.get("date") or ""}


def bbc(data: Path) -> Iterator[dict[str, str]]:
    for path in sorted((data / "bbc").glob("*/*.txt")):
        title, _, body = path.read_bytes().decode("utf-8", errors="replace").partition("\n")
        if body.strip():
            yield {"id": f"bbc-{path.parent.name}-{path.stem}", "title": title.strip(), "body": body.strip()}


def ag_news(data: Path) -> Iterator[dict[str, str]]:
    with open(data / "ag_news" / "test.csv", encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle)):
            if len(row) == 3 and row[2].strip():
                yield {"id": f"ag-{number}", "title": row[1], "body": row[2].replace("\\", " ")}


def mixed(data: Path) -> list[dict[str, str]]:
    """Every article of the three collections, taken from each in turn."""
    sources = [reuters(data), bbc(data), ag_news(data)]
    out: list[dict[str, str]] = []
    while sources:
        for source in list(sources):
            record = next(source, None)
            if record is None:
                sources.remove(source)
            else:
                out.append(record)
    return out


def keyword_segments(index_dir: Path) -> int:
    from whoosh import index as whoosh_index

    from index.storage.manifest import read_manifest

    keyword = index_dir / read_manifest(index_dir).generation / "keyword"
    with whoosh_index.open_dir(str(keyword)).reader() as reader:
        return len(reader.leaf_readers())


def bm25s_seconds(records: Sequence[dict[str, str]], queries: list[str]) -> list[float] | None:
    """Each query's warm time through bm25s (tokenise with its English stop words and the
    Snowball stemmer, then retrieve LEG_LIMIT), on the same articles; None without the `bench`
    extra."""
    try:
        import bm25s
        import Stemmer
    except ImportError:
        return None
    stemmer = Stemmer.Stemmer("english")
    texts = [f"{r['title']}\n\n{r['body']}" for r in records]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    seconds = []
    for warm, text in [(True, q) for q in queries[:20]] + [(False, q) for q in queries]:
        with stopwatch() as t:
            tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False)
            if tokens.vocab:
                retriever.retrieve(tokens, k=min(LEG_LIMIT, len(texts)), show_progress=False, n_threads=1)
        if not warm:
            seconds.append(t["s"])
    return seconds


def old_feedback_terms(self, article_ids, count):
    """Before stored terms: none, so feedback reads the articles' text (WhooshKeywordStore)."""
    return None


def old_expansion_terms(self, texts, count):
    """Before stored terms: whoosh's Expander analyses every text and looks up each term's
    collection frequency through the index reader, query by query (the code it replaced)."""
    from whoosh import classify

    searcher, _arrays = self._searcher()
    expander = classify.Expander(searcher.reader(), "body", model=classify.Bo1Model)
    for text in texts:
        expander.add_text(text)
    return [(term, float(weight)) for term, weight in expander.expanded_terms(count)]


def uncached_term(self, term, reader):
    """Before the postings cache: every term's postings read through whoosh on every query."""
    from index.storage.keyword_arrays import _Sparse

    text = self._searcher.schema[term.fieldname].to_bytes(term.text) if term.fieldname in self._searcher.schema else None
    found = None if text is None else self._leaf_scores(term.fieldname, text, reader)
    if found is None:
        return None
    return _Sparse(found[0], found[1] * term.boost if term.boost != 1.0 else found[1])


def old_merge_policy(writer, segments, written=()):
    """Before the size-tiered policy: everything merged once a commit would leave more than
    four segments or a tenth of the documents are deleted, else nothing (and a build's last
    commit was told nothing: `written` is ignored)."""
    from whoosh.writing import NO_MERGE, OPTIMIZE

    total = sum(seg.doc_count_all() for seg in segments)
    deleted = sum(seg.deleted_count() for seg in segments)
    if deleted > 0.1 * max(total, 1) or len(segments) + 1 > 4:
        return OPTIMIZE(writer, segments)
    return NO_MERGE(writer, segments)


@contextmanager
def before(on: bool) -> Iterator[None]:
    """With `on`, the keyword store as it was before: feedback from the text, the old segment
    policy, no postings kept between queries, one word's matches found through whoosh and an
    index under MIN_DOCUMENTS scored by whoosh."""
    from index.storage import keyword
    from index.storage.keyword_arrays import ArrayBM25F

    if not on:
        yield
        return
    with patch.object(keyword.WhooshKeywordStore, "feedback_terms", old_feedback_terms), \
            patch.object(keyword.WhooshKeywordStore, "expansion_terms", old_expansion_terms), \
            patch.object(keyword, "merge_policy", old_merge_policy), \
            patch.object(ArrayBM25F, "_term", uncached_term), \
            patch.object(ArrayBM25F, "term_documents", lambda self, term: None), \
            patch.object(ArrayBM25F, "_serving", lambda self: self.enabled and not self._small):
        yield


def measure(records: list[dict[str, str]], size: int, add: int, queries: list[str], warmup: int,
            model: str, work: Path) -> dict[str, Any]:
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build
    from index.storage.manifest import read_manifest
    from search.engine import Engine

    corpus, index_dir = work / f"corpus-{size}", work / f"index-{size}"
    write_chunks(corpus, records[:size], "base")
    encoder = encoder_for(model)
    with stopwatch() as t:
        build([corpus], index_dir, encoder=encoder)
    result: dict[str, Any] = {"build_s": t["s"], "segments_after_build": keyword_segments(index_dir),
                              "keyword_mib": dir_size_mib(index_dir / read_manifest(index_dir).generation / "keyword")}
    with Engine.open(index_dir, encoder=encoder) as engine:
        for mode in MODES:
            for text in queries[:warmup]:
                engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
        with before(True):
            for mode in ("keyword", "hybrid"):
                for text in queries[:warmup]:
                    engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
        # Before and after in turns, query by query, so both see the same load.
        seconds: dict[str, list[float]] = {name: [] for name in TIMED}
        for number, text in enumerate(queries):
            for name in TIMED if number % 2 else reversed(TIMED):
                mode, old = TIMED[name]
                with before(old), stopwatch() as t:
                    engine.search(text, k=10, mode=mode)  # type: ignore[arg-type]
                seconds[name].append(t["s"])
        result.update({name: latency_summary(values) for name, values in seconds.items()})
        legs: dict[str, list[float]] = {"Accord keyword leg (after)": []}
        for text in queries:
            with stopwatch() as t:
                engine.keyword_run(text, LEG_LIMIT)
            legs["Accord keyword leg (after)"].append(t["s"])
        peer = bm25s_seconds(records[:size], queries)
        if peer is not None:
            legs["bm25s (peer)"] = peer
        result.update({name: latency_summary(values) for name, values in legs.items()})
    # Two copies of the built index take the same updates, one under each policy, in turns.
    copies = {old: work / f"index-{size}-{'before' if old else 'after'}" for old in (True, False)}
    for target in copies.values():
        shutil.copytree(index_dir, target, symlinks=True)
    updates: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(UPDATES):
        start = size + round_ * add
        write_chunks(corpus, records[start : start + add], f"new{round_}")
        for old in (True, False) if round_ % 2 else (False, True):
            with before(old), stopwatch() as t:
                build([], copies[old], encoder=encoder)
            updates[old].append(t["s"])
    for old, label in ((True, "before"), (False, "after")):
        result[f"update_s_{label}"] = updates[old]
        result[f"segments_after_updates_{label}"] = keyword_segments(copies[old])
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (holding reuters21578/, bbc/, ag_news/)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--work", type=Path, required=True, help="folder for the corpora and indexes")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21578)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--add", type=int, default=10, help="articles each timed update adds")
    parser.add_argument("--out", type=Path)
    add_model_option(parser)
    parser.set_defaults(model="tests.conftest:test/hashing-bag-of-words")
    args = parser.parse_args(argv)
    model = resolve_model(args.model)
    records = mixed(args.data)
    queries = [text for _kind, text in make_queries(args.data / REUTERS, args.queries, args.seed)]
    info = machine_info()
    print(header("Warm queries and small updates on distinct articles", command_line(__file__, argv), info))
    sampler = LoadSampler().start()
    sizes = {}
    for size in args.sizes:
        if size + UPDATES * args.add > len(records):
            raise SystemExit(f"--sizes {size}: the three collections hold {len(records)} articles")
        work = args.work / f"run-{int(time.time())}"
        sizes[size] = measure(records, size, args.add, queries, args.warmup, model, work)
        print(f"measured {size:,} articles", flush=True)
    load = sampler.stop()
    rows = [[f"{size:,}", name, r[name]["p50_ms"], r[name]["p95_ms"]] for size, r in sizes.items()
            for name in [*TIMED, "Accord keyword leg (after)", "bm25s (peer)"] if name in r]
    print(markdown_table(["articles", "what (warm, k=10)", "p50 ms", "p95 ms"], rows))
    print()
    for size, r in sizes.items():
        for mode in ("keyword", "hybrid"):
            old, new = r[f"{mode}, before"], r[f"{mode}, after"]
            print(f"- {size:,} articles: {mode} after / before: p50 {new['p50_ms'] / old['p50_ms']:.2f}, "
                  f"p95 {new['p95_ms'] / old['p95_ms']:.2f}")
    print()
    print(markdown_table(
        ["articles", "build s", "keyword MiB", "segments after build", "segment policy",
         f"add {args.add}: update s ({UPDATES} in a row)", "segments after"],
        [[f"{size:,}", r["build_s"], r["keyword_mib"], r["segments_after_build"], label,
          " / ".join(f"{s:.2f}" for s in r[f"update_s_{label}"]), r[f"segments_after_updates_{label}"]]
         for size, r in sizes.items() for label in ("before", "after")]))
    print(f"\n- {len(queries)} Reuters queries (seed {args.seed}), {args.warmup} per mode first as warm-up; "
          f"encoder {model}")
    print(f"- load average (1 min) while measuring: mean {load['mean']}, max {load['max']}")
    payload = {"benchmark": "bench_warm", "command": command_line(__file__, argv), "machine": info,
               "load_during": load, "sizes": {str(size): r for size, r in sizes.items()}}
    finish(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
