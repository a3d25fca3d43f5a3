"""Indexing throughput: articles/s, passages/s, peak RSS and index size on Reuters-21578 and BBC.

    python -m benchmarks.build_speed.bench_index DATA --out runs/bench_index.json

What is measured, per dataset, in one fresh child process (so that its peak RSS is its own):

1. The full build through the public API, `index.pipeline.builder.build(...)`, with an empty embedding
   cache, on the first `--embed-limit` articles. The model is loaded (and timed) before the
   build, so the build time excludes loading it; the encoder is wrapped to time `encode` calls,
   which gives the embedding stage inside that very build. Peak RSS is read right after it.
2. The same build again with `rebuild=True` and the now warm cache: everything but embedding.
3. The stages of those very builds, as the builder times them (`BuildReport.stage_seconds`:
   reading and cleaning, splitting, embedding, writing the article store, vectors and keyword
   index, publishing): the product's own build path, not a copy of its steps.

Then the keyword side at scale: Reuters replicated with new ids (`<newid>-copyN`, text
unchanged) to `--keyword-scale` articles, written through `KeywordWriter` (the keyword store's
writer the build uses) alone.

Reuters is converted to a temporary JSONL (`id`=newid, title, body, date; records with an empty
body are skipped and counted). BBC reuses the names `001.txt`... in every category and an
article's id is its file stem, so the folder as is yields one article per stem: it is read as is
(counting the duplicates) and measured through a temporary folder of symlinks named
`<category>-NNN.txt`, so that all its articles count.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common.corpora import BBC, REUTERS, convert_reuters
from benchmarks.common.machine import (
    LoadSampler,
    add_model_option,
    add_run_options,
    command_line,
    dir_size_mib,
    header,
    machine_info,
    markdown_table,
    peak_rss_mib,
    resolve_model,
    stopwatch,
    wait_for_quiet,
    write_json,
)
from index.embedding.encoder import EncoderBase


class TimingEncoder(EncoderBase):
    """Wraps an Encoder and adds up the wall time of its `encode` and `count_tokens` calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.encode_s = 0.0
        self.count_s = 0.0
        self.encoded = 0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        started = time.perf_counter()
        try:
            return self.inner.count_tokens(texts)
        finally:
            self.count_s += time.perf_counter() - started

    def prepare(self) -> None:
        self.inner.prepare()  # the ONNX export, before any timing

    def encode(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.encode(texts)
        finally:
            self.encode_s += time.perf_counter() - started
            self.encoded += len(texts)




def head_jsonl(source: Path, out: Path, n: int) -> Path:
    """The first `n` lines of `source` in `out`."""
    with open(source, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for number, line in enumerate(src):
            if number >= n:
                break
            dst.write(line)
    return out


def link_bbc(folder: Path, out: Path, limit: int | None) -> int:
    """Symlink `<category>/NNN.txt` as `out/<category>-NNN.txt` (first `limit`); returns the count."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(folder.glob("*/*.txt"))[:limit]
    for path in files:
        (out / f"{path.parent.name}-{path.name}").symlink_to(path.resolve())
    return len(files)


def measure_build(src: str, work: str, model_spec: str) -> dict[str, Any]:
    """Child process: the API build of `src` with a cold cache, then again with the warm cache."""
    from index.embedding.encoder import encoder_for
    from index.pipeline.builder import build
    from index.storage.manifest import BuildSettings

    settings = BuildSettings()
    workdir = Path(work)
    encoder = TimingEncoder(encoder_for(resolve_model(model_spec)))
    with stopwatch() as load:
        encoder.inner.encode(["load the model before the clock starts"])
    rss_model = peak_rss_mib()

    index_dir, cache = workdir / "index", workdir / "embeddings.sqlite"
    with stopwatch() as cold:
        report = build([src], index_dir, encoder=encoder, settings=settings, embedding_cache=cache)
    rss_build = peak_rss_mib()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    generation = index_dir / manifest["generation"]
    sizes = {"generation_mib": dir_size_mib(generation), "keyword_mib": dir_size_mib(generation / "keyword"),
             "vectors_mib": dir_size_mib(generation / "vectors.faiss"),
             "docstore_mib": dir_size_mib(generation / "articles.sqlite"), "cache_mib": dir_size_mib(cache)}
    warm_encoder = TimingEncoder(encoder.inner)
    with stopwatch() as warm:
        warm_report = build([src], index_dir, encoder=warm_encoder, settings=settings, rebuild=True,
                            embedding_cache=cache)
    return {
        "model": encoder.name,
        "model_load_s": load["s"],
        "peak_rss_after_model_mib": rss_model,
        "build": {"articles": report.articles, "passages": report.passages, "embedded": report.embedded,
                  "skipped": len(report.skipped), "seconds": cold["s"], "embed_seconds": encoder.encode_s,
                  "embedded_by_encoder": encoder.encoded, "count_tokens_seconds": encoder.count_s,
                  "peak_rss_mib": rss_build, "stage_seconds": report.stage_seconds, **sizes},
        "warm_rebuild": {"articles": warm_report.articles, "passages": warm_report.passages,
                         "embedded": warm_report.embedded, "seconds": warm["s"],
                         "embed_seconds": warm_encoder.encode_s, "stage_seconds": warm_report.stage_seconds},
    }


def measure_dataset(build_src: str, work: str, model_spec: str, isolate: bool) -> dict[str, Any]:
    """The API build on `build_src` (cold and warm cache), with its stage timings, in its own child."""
    return in_child(isolate, measure_build, build_src, work, model_spec)


def measure_bbc_as_is(folder: str) -> dict[str, Any]:
    """Child process: what the BBC folder holds as `accord index` reads it (its reader, ids as the
    builder gives them), counting ids that more than one file would claim."""
    from index.text.articles import Article, iter_input_files, read_articles, text_article_id

    root = Path(folder)
    files = list(iter_input_files([root]))
    ids: dict[str, int] = {}
    other: list[str] = []
    for path in files:
        for item in read_articles(path, path.read_bytes()):
            if isinstance(item, Article):
                article_id = text_article_id(path, [root])
                ids[article_id] = ids.get(article_id, 0) + 1
            else:
                other.append(f"{item.path}: {item.reason}")
    return {"files": len(files), "articles": len(ids), "skipped": sum(ids.values()) - len(ids) + len(other),
            "duplicate_ids": sum(ids.values()) - len(ids), "other_skipped": other}


def replicated(articles: list[Any], total: int) -> Iterator[Any]:
    """`total` articles: `articles` as they are, then copies with ids `<id>-copyN`, text unchanged."""
    for number in range(total):
        copy, article = divmod(number, len(articles))
        yield articles[article] if copy == 0 else dataclasses.replace(articles[article], id=f"{articles[article].id}-copy{copy}")


def measure_keyword_scale(jsonl: str, total: int, work: str) -> dict[str, Any]:
    """Child process: the keyword store's writer over Reuters replicated to `total` articles."""
    from index.storage.keyword import KeywordWriter
    from index.storage.manifest import BuildSettings
    from index.text.articles import Article, read_articles

    with stopwatch() as read:
        articles = [a for a in read_articles(Path(jsonl), Path(jsonl).read_bytes()) if isinstance(a, Article)]
    out = Path(work) / "keyword-scale"
    with stopwatch() as keyword:
        writer = KeywordWriter(out, BuildSettings().title_boost)
        for article in replicated(articles, total):
            writer.add(article)
        writer.commit()
    return {"articles": total, "distinct_texts": min(total, len(articles)), "read_seconds": read["s"],
            "keyword_seconds": keyword["s"], "keyword_mib": dir_size_mib(out), "peak_rss_mib": peak_rss_mib()}


def in_child(isolate: bool, func: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `func(*args)` in a fresh spawned process (own peak RSS), or here when not isolating."""
    if not isolate:
        return func(*args)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(func, *args).result()


def rows_for(name: str, result: dict[str, Any], subset_note: str) -> list[list[Any]]:
    """Table rows for one dataset's measurements."""
    b, w = result["build"], result["warm_rebuild"]
    s = w["stage_seconds"]
    per = lambda n, sec: n / sec if sec else float("nan")  # noqa: E731
    return [
        [name, f"API build, cold cache{subset_note}", b["articles"], b["passages"], b["seconds"],
         per(b["articles"], b["seconds"]), per(b["passages"], b["seconds"]), b["peak_rss_mib"], b["generation_mib"]],
        [name, "  of which embedding (encoder.encode)", b["articles"], b["embedded_by_encoder"], b["embed_seconds"],
         per(b["articles"], b["embed_seconds"]), per(b["embedded_by_encoder"], b["embed_seconds"]), "", b["cache_mib"]],
        [name, f"API rebuild, warm cache (no embedding){subset_note}", w["articles"], w["passages"], w["seconds"],
         per(w["articles"], w["seconds"]), per(w["passages"], w["seconds"]), "", ""],
        [name, "  rebuild stage: read + clean", w["articles"], "", s.get("read", 0.0),
         per(w["articles"], s.get("read", 0.0)), "", "", ""],
        [name, "  rebuild stage: split into passages", w["articles"], w["passages"], s.get("split", 0.0),
         per(w["articles"], s.get("split", 0.0)), per(w["passages"], s.get("split", 0.0)), "", ""],
        [name, "  rebuild stage: keyword index", w["articles"], "", s.get("keyword", 0.0),
         per(w["articles"], s.get("keyword", 0.0)), "", "", b["keyword_mib"]],
        [name, "  rebuild stage: article store + vectors + publish", w["articles"], "",
         s.get("articles", 0.0) + s.get("vectors", 0.0) + s.get("publish", 0.0), "", "", "", ""],
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the data folder (reuters21578/, bbc/)")
    parser.add_argument("--datasets", nargs="+", choices=["reuters", "bbc"], default=["reuters", "bbc"])
    parser.add_argument("--limit", type=int, help="use the first N articles of each dataset (default: all)")
    parser.add_argument("--embed-limit", type=int,
                        help="run the full (embedding) build on the first N of those only (default: all)")
    parser.add_argument("--keyword-scale", type=int, default=100_000,
                        help="articles for the replicated-Reuters keyword run (0: skip it)")
    add_model_option(parser)
    parser.add_argument("--keep-index", type=Path,
                        help="keep the built indexes as DIR/reuters and DIR/bbc (for bench_query.py --index)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one, removed after)")
    parser.add_argument("--no-isolate", action="store_true", help="measure in this process, not in children")
    add_run_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the report and return (and optionally write) the results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    resolve_model(args.model)  # fail early on a bad model spec
    waited = 0.0
    if not args.no_wait:
        waited = wait_for_quiet(args.max_load, args.max_wait)
    info = {**machine_info(), "waited_for_load_s": waited}
    command = command_line(__file__, argv)
    print(header("Indexing throughput", command, info), flush=True)
    sampler = LoadSampler().start()
    isolate = not args.no_isolate
    notes: list[str] = []
    results: dict[str, Any] = {}
    subset = "" if args.embed_limit is None else f" (first {args.embed_limit})"
    rows: list[list[Any]] = []
    with tempfile.TemporaryDirectory(prefix="accord-bench-", dir=args.work) as tmp:
        work = Path(tmp)
        reuters_jsonl = work / "reuters.jsonl"
        if "reuters" in args.datasets or args.keyword_scale:
            counts = convert_reuters(args.data / REUTERS, reuters_jsonl, args.limit)
            notes.append(f"Reuters: {counts['records']} records, {counts['empty_body_skipped']} skipped for an "
                         f"empty body, {counts['written']} written to the temporary JSONL"
                         + (f" (--limit {args.limit})" if args.limit else ""))
            results["reuters_conversion"] = counts
        if "reuters" in args.datasets:
            src = reuters_jsonl if args.embed_limit is None else head_jsonl(reuters_jsonl, work / "reuters-head.jsonl", args.embed_limit)
            (work / "reuters").mkdir()
            results["reuters"] = measure_dataset(str(src), str(work / "reuters"), args.model, isolate)
            rows += rows_for("reuters", results["reuters"], subset)
        if "bbc" in args.datasets:
            as_is = in_child(isolate, measure_bbc_as_is, str(args.data / BBC))
            results["bbc_as_is"] = as_is
            notes.append(f"BBC folder as is: {as_is['files']} files -> {as_is['articles']} articles, "
                         f"{as_is['duplicate_ids']} skipped as duplicate ids (ids are file stems; every category "
                         f"has 001.txt...); other skips: {as_is['other_skipped'] or 'none'}. Measured through "
                         "symlinks named <category>-NNN.txt instead")
            all_links = work / "bbc-all"
            link_bbc(args.data / BBC, all_links, args.limit)
            src = all_links
            if args.embed_limit is not None:
                src = work / "bbc-head"
                link_bbc(args.data / BBC, src, min(args.embed_limit, args.limit or args.embed_limit))
            (work / "bbc").mkdir()
            results["bbc"] = measure_dataset(str(src), str(work / "bbc"), args.model, isolate)
            rows += rows_for("bbc", results["bbc"], subset)
        if args.keep_index:
            for name in ("reuters", "bbc"):
                if name in results:
                    keep = args.keep_index / name
                    shutil.rmtree(keep, ignore_errors=True)
                    keep.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(work / name / "index", keep)
                    notes.append(f"{name} index kept in {keep}")
        if args.keyword_scale:
            scale = in_child(isolate, measure_keyword_scale, str(reuters_jsonl), args.keyword_scale, str(work))
            results["keyword_scale"] = scale
            notes.append(f"keyword at scale: the {scale['distinct_texts']} Reuters articles replicated with new "
                         f"ids (<newid>-copyN, text unchanged) to {scale['articles']}; KeywordWriter only")
            rows.append([f"reuters x{scale['articles'] / max(scale['distinct_texts'], 1):.1f} (replicated)",
                         "keyword index (KeywordWriter)", scale["articles"], "", scale["keyword_seconds"],
                         scale["articles"] / scale["keyword_seconds"], "", scale["peak_rss_mib"], scale["keyword_mib"]])
    for name in ("reuters", "bbc"):
        if name in results:
            r = results[name]
            notes.append(f"{name}: model {r['model']} loaded in {r['model_load_s']:.1f}s before the clock "
                         f"(not in the build time); build index = generation folder only, the embedding cache "
                         f"({r['build']['cache_mib']:.1f} MiB) is separate")
    notes.append("peak RSS is ru_maxrss of a fresh child process: one for the API build (read right after the "
                 "cold build, model included), one for the replicated keyword run"
                 if isolate else "peak RSS is ru_maxrss of this one process (--no-isolate): it only grows")
    print(markdown_table(["dataset", "step", "articles", "passages", "seconds", "articles/s", "passages/s",
                          "peak RSS MiB", "size MiB"], rows))
    print("\n" + "\n".join(f"- {n}" for n in notes))
    load_during = sampler.stop()
    info_after = machine_info()
    print(f"\nload average (1 min) while measuring: mean {load_during['mean']}, max {load_during['max']} "
          f"({load_during['samples']} samples); at the end: {' '.join(map(str, info_after['load_avg']))}")
    payload = {"benchmark": "bench_index", "command": command, "machine": info,
               "load_avg_after": info_after["load_avg"], "load_during": load_during, "args": {k: str(v) for k, v in vars(args).items()},
               "notes": notes, "results": results}
    write_json(args.out, payload)
    return payload


if __name__ == "__main__":
    main()
