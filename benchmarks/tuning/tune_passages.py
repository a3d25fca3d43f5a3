"""Passage settings and embedding model chosen with their cost in view: each value against the
current default on TIME dev, CISI and Cranfield, query by query, with a leave-one-collection-out
check of the choice (docs/tuning.md, "Passages with their cost", T table).

    python -m benchmarks.tuning.tune_passages DATA --indexes WORK --cache WORK/embeddings.sqlite \
        --values fp32:64:1:title int8:64:1:title int8:64:1:none int8:96:1:none int8:128:0:none \
        --against fp32:64:1:title

A value is `MODEL:TOKENS:OVERLAP:TITLE[:CAP]`: the model (`fp32`, all-MiniLM-L6-v2 exact; `int8`, its
`#onnx-int8` quantisation), the passage budget in word pieces, the sentences each passage shares
with the one before, and whether a real title is embedded in front of every passage (`title`)
or not (`none`), and optionally the most tokens the overlapping sentences may hold (`CAP`; no
limit without it). Every value is one build per collection (`WORK/<collection>-<value>`, kept and
reused), sharing one embedding cache (`--cache`: a passage text is embedded once per model
across every value and run). The judged queries (dev queries where a split exists, as
`devsets.load_collection` reads them; queries as typed, as `accord eval` passes them) run
through `Engine.search` at the ranking defaults in the hybrid, semantic and keyword modes.

Reported per collection, for each value against each reference value (`--against`): nDCG@10 of
both, the difference, the queries won, lost and tied, and the p-value of a paired randomisation
test (`search.evaluation.compare_runs`, the function behind `accord eval --compare`), hybrid and
semantic. Cost beside it: passages and embedded word pieces per article of each collection,
and of `--news` (a folder of news articles, e.g. the BBC's) when given. A value is kept when no
collection loses hybrid or semantic nDCG@10 to the reference by more than noise (p < 0.05);
of the kept values, the cheapest whose hybrid mean is within `--tolerance` of the reference on
every collection is chosen (else the reference). The leave-one-collection-out table picks, for
each collection in turn, the value this rule chooses from the other two alone, and shows what
that pick does on the one left out.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.common.devsets import DEV_COLLECTIONS, load_collection, read_collection_articles
from benchmarks.common.machine import command_line
from index.embedding.encoder import MINILM_INT8_NAME, MINILM_NAME, Encoder, encoder_for
from index.pipeline.builder import build
from index.pipeline.read import embedding_text, split_article
from index.storage.manifest import BuildSettings
from index.text.articles import Article, iter_input_files, read_articles
from search.engine import Engine, RankingConfig
from search.evaluation import Comparison, Run, compare_runs, run_queries, score_run

MODELS = {"fp32": MINILM_NAME, "int8": MINILM_INT8_NAME}
MODES = ("hybrid", "semantic", "keyword")
CHECKED = ("hybrid", "semantic")  # the modes a value must not lose beyond noise
METRIC = "nDCG@10"


@dataclass(frozen=True)
class Value:
    """One passage setting and model, parsed from `MODEL:TOKENS:OVERLAP:TITLE[:CAP]`."""

    text: str
    model: str
    settings: BuildSettings

    @classmethod
    def parse(cls, text: str) -> Value:
        try:
            model, tokens, overlap, title, *cap = text.split(":")
            if model not in MODELS or title not in ("title", "none") or len(cap) > 1:
                raise ValueError
            settings = BuildSettings(
                passage_tokens=int(tokens), overlap_sentences=int(overlap), title_in_passages=title == "title",
                overlap_tokens=int(cap[0]) if cap else 0,
            )
        except ValueError:
            raise SystemExit(f"--values {text}: expected MODEL:TOKENS:OVERLAP:TITLE[:CAP], e.g. int8:64:1:title:21 "
                             f"(MODEL one of {', '.join(MODELS)}, TITLE title or none)") from None
        return cls(text, MODELS[model], settings)


def cost(articles: Sequence[Article], encoder: Encoder, settings: BuildSettings) -> dict[str, float]:
    """Passages and embedded word pieces (special tokens included) per article, as a build cuts them."""
    texts = [embedding_text(a, p, settings) for a in articles for p in split_article(a, encoder, settings)]
    pieces = sum(n + 2 for n in encoder.count_tokens(texts))
    return {"passages": len(texts) / max(len(articles), 1), "pieces": pieces / max(len(articles), 1)}


def news_articles(folder: Path) -> list[Article]:
    """The articles of every input file under `folder`, read as a build reads them."""
    return [a for path in iter_input_files([folder]) for a in read_articles(path) if isinstance(a, Article)]


def collection_runs(
    folder: Path, work: Path, cache: Path, values: Sequence[Value]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Run]], dict[str, dict[str, int]]]:
    """Each value's mean nDCG@10 and run per mode on the collection in `folder`, and its qrels."""
    collection = load_collection(folder)
    means: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, Run]] = {}
    for value in values:
        index_dir = work / f"{folder.name}-{value.text.replace(':', '-')}"
        started = time.process_time()
        build([collection.docs], index_dir, model=value.model, settings=value.settings, embedding_cache=cache)
        with Engine.open(index_dir, ranking=RankingConfig()) as engine:
            runs[value.text] = {mode: run_queries(engine, collection.queries, mode)[0] for mode in MODES}
        means[value.text] = {mode: score_run(collection.qrels, run)[METRIC] for mode, run in runs[value.text].items()}
        print(f"{folder.name} {value.text}: {means[value.text]} ({time.process_time() - started:.0f} CPU-s)",
              file=sys.stderr, flush=True)
    return means, runs, collection.qrels


def kept(comparisons: dict[str, dict[str, Comparison]]) -> bool:
    """No collection loses hybrid or semantic beyond noise."""
    return not any(c[mode].significant_loss for c in comparisons.values() for mode in CHECKED)


def choose(
    values: Sequence[Value], reference: str, per_collection: dict[str, dict[str, dict[str, dict[str, Comparison]]]],
    names: Sequence[str], pieces: dict[str, float], tolerance: float,
) -> str:
    """Among the values no collection of `names` rejects and whose hybrid is within `tolerance`
    of `reference` on each, the cheapest (fewest word pieces embedded per news article);
    `reference` itself when none is cheaper."""
    best = reference
    for value in values:
        if value.text == reference:
            continue
        comparisons = {name: per_collection[name][value.text][reference] for name in names}
        close = all(c["hybrid"].difference >= -tolerance for c in comparisons.values())
        if kept(comparisons) and close and pieces[value.text] < pieces[best]:
            best = value.text
    return best


def report(
    values: Sequence[Value], against: Sequence[str], names: Sequence[str], means: dict[str, dict[str, dict[str, float]]],
    per_collection: dict[str, dict[str, dict[str, dict[str, Comparison]]]], costs: dict[str, dict[str, dict[str, float]]],
    cost_of: str, tolerance: float,
) -> str:
    """The markdown tables: means and cost per value, each value against each reference, and the
    leave-one-collection-out check against the first reference."""
    pieces = {v.text: costs[cost_of][v.text]["pieces"] for v in values}
    lines = [f"{METRIC} hybrid (semantic, keyword in brackets); cost: passages / word pieces embedded per article.", ""]
    cost_cols = [n for n in costs if n not in names] + list(names)
    lines += ["| value | " + " | ".join(names) + " | hybrid mean | " + " | ".join(f"cost {n}" for n in cost_cols) + " |",
              "|---|" + "---:|" * (len(names) + 1 + len(cost_cols))]
    for v in values:
        cells = [f"{means[n][v.text]['hybrid']:.4f} ({means[n][v.text]['semantic']:.4f}, {means[n][v.text]['keyword']:.4f})"
                 for n in names]
        cost_cells = [f"{costs[n][v.text]['passages']:.2f} / {costs[n][v.text]['pieces']:.0f}" for n in cost_cols]
        mean = statistics.mean(means[n][v.text]["hybrid"] for n in names)
        lines.append(f"| {v.text} | " + " | ".join(cells) + f" | {mean:.4f} | " + " | ".join(cost_cells) + " |")
    for reference in against:
        lines += ["", f"Against `{reference}` (wins/losses/ties over the judged queries; p: paired randomisation test):", ""]
        lines += ["| value | collection | mode | " + reference + " | value's | difference | W/L/T | p | verdict |",
                  "|---|---|---|---:|---:|---:|---|---:|---|"]
        for v in values:
            if v.text == reference:
                continue
            comparisons = {n: per_collection[n][v.text][reference] for n in names}
            for n, by_mode in comparisons.items():
                for mode in CHECKED:
                    c = by_mode[mode]
                    flag = "loss > noise" if c.significant_loss else ("gain > noise" if c.difference > 0 and c.p_value < 0.05 else "")
                    lines.append(f"| {v.text} | {n} | {mode} | {c.baseline:.4f} | {c.score:.4f} | {c.difference:+.4f} | "
                                 f"{c.wins}/{c.losses}/{c.ties} | {c.p_value:.3f} | {flag} |")
            verdict = "kept" if kept(comparisons) else "rejected"
            hybrid_mean = statistics.mean(c["hybrid"].difference for c in comparisons.values())
            lines.append(f"| {v.text} | mean | hybrid | | | {hybrid_mean:+.4f} | | | **{verdict}** |")
        chosen = choose(values, reference, per_collection, names, pieces, tolerance)
        lines += ["", f"Chosen against `{reference}` on all {len(names)} (cheapest kept value within {tolerance} "
                  f"hybrid of it on each): **{chosen}**."]
    reference = against[0]
    lines += ["", f"Leave one collection out (against `{reference}`): the value chosen on the other collections, "
              "on the one left out (hybrid; semantic in brackets).", "",
              "| left out | chosen on the others | difference there | W/L/T | p | semantic difference | p |",
              "|---|---|---:|---|---:|---:|---:|"]
    for n in names:
        pick = choose(values, reference, per_collection, [m for m in names if m != n], pieces, tolerance)
        if pick == reference:
            lines.append(f"| {n} | {pick} | +0.0000 | | | | |")
        else:
            h, s = per_collection[n][pick][reference]["hybrid"], per_collection[n][pick][reference]["semantic"]
            lines.append(f"| {n} | {pick} | {h.difference:+.4f} | {h.wins}/{h.losses}/{h.ties} | {h.p_value:.3f} | "
                         f"{s.difference:+.4f} | {s.p_value:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder holding the dev collections (time, cisi, cran)")
    parser.add_argument("--indexes", type=Path, required=True, help="folder of one index per collection and value, built when missing")
    parser.add_argument("--cache", type=Path, required=True, help="embedding cache shared by every build")
    parser.add_argument("--collections", nargs="+", default=list(DEV_COLLECTIONS), help="collection folders under DATA")
    parser.add_argument("--values", nargs="+", required=True, help="MODEL:TOKENS:OVERLAP:TITLE values (the references among them)")
    parser.add_argument("--against", nargs="+", required=True, help="reference values (the first: the current default)")
    parser.add_argument("--news", type=Path, help="a folder of news articles whose cost per article decides between values")
    parser.add_argument("--news-limit", type=int, default=250, help="articles of --news to cost (default 250)")
    parser.add_argument("--tolerance", type=float, default=0.005, help="hybrid nDCG@10 a chosen value may lose on a collection")
    parser.add_argument("--json", type=Path, help="also write every mean, cost and comparison here")
    args = parser.parse_args(argv)
    values = [Value.parse(v) for v in args.values]
    missing = [v for v in args.against if v not in args.values]
    if missing:
        parser.error(f"--against {missing[0]}: also list it in --values")
    for name in args.collections:
        if not (args.data / name / "docs.jsonl").is_file():
            parser.error(f"{args.data / name}: no docs.jsonl; pass the folder holding {', '.join(args.collections)}")
    print(command_line(__file__, sys.argv[1:] if argv is None else argv))

    # Cost is counted with the exact model's tokenizer: both models share it.
    counter = encoder_for(MINILM_NAME)
    costs: dict[str, dict[str, dict[str, float]]] = {}
    if args.news:
        news = news_articles(args.news)[: args.news_limit]
        costs[f"news ({len(news)})"] = {v.text: cost(news, counter, v.settings) for v in values}
    for name in args.collections:
        articles = read_collection_articles(args.data / name / "docs.jsonl")
        costs[name] = {v.text: cost(articles, counter, v.settings) for v in values}
    cost_of = next(iter(costs))  # the news folder's when given, else the first collection's

    means: dict[str, dict[str, dict[str, float]]] = {}
    per_collection: dict[str, dict[str, dict[str, dict[str, Comparison]]]] = {}
    for name in args.collections:
        means[name], runs, qrels = collection_runs(args.data / name, args.indexes, args.cache, values)
        per_collection[name] = {
            v.text: {ref: {mode: compare_runs(qrels, runs[ref][mode], runs[v.text][mode], METRIC) for mode in CHECKED}
                     for ref in args.against}
            for v in values
        }
    print(report(values, args.against, args.collections, means, per_collection, costs, cost_of, args.tolerance))
    if args.json:
        args.json.write_text(json.dumps({
            "means": means, "costs": costs,
            "comparisons": {n: {v: {r: {m: asdict(c) for m, c in modes.items()} for r, modes in refs.items()}
                                for v, refs in by_value.items()} for n, by_value in per_collection.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
