"""A ranking choice that must hold on collections nobody tuned it on: each value of a setting
against the current default on TIME dev, CISI and Cranfield, query by query, and a
leave-one-collection-out check of the choice (docs/tuning.md, Q and L tables).

    python -m benchmarks.tuning.tune_loco DATA --indexes WORK \
        --values linear once log k3=7 k3=3 k3=1.2 --against linear once
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting idf --values lucene whoosh --against lucene
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting stemmer --values snowball porter none --against snowball
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting stop-list --values english whoosh lucene none --against english
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting fusion --hits 10 --values max=0.3 convex=0.3 rrf=60 --against max=0.3
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting bm25 --values 2.0/0.75 1.2/0.75 --against 2.0/0.75
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting feedback --values 5/10/0.2 off --against 5/10/0.2
    python -m benchmarks.tuning.tune_loco DATA --indexes WORK --setting depth --values 100 50 30 200 --against 100

`--setting` is one of: query-terms, idf, stemmer, stop-list and title-boost (the keyword leg's
reading and scoring), bm25 (k1/b), fusion (method, weight and scale), feedback (the hybrid's keyword
pseudo-relevance feedback), coverage (the lift after fusion) and depth (the candidates each leg
gives the fusion); `--help` lists each one's values. Every setting but depth scores each query's
top 100 (`accord eval`'s depth, for Recall@100 and MAP@100), for which each leg gives 1,000
candidates; depth scores a first page of ten, as a search serves it, and `--hits 10` scores any
setting's first page instead.
The ranking settings are `RankingConfig` fields, passed to `Engine.open(ranking=...)`; the
stemmer, stop list and title boost are build settings (`BuildSettings.stemmer`, `stop_words`,
`title_boost`).

For every collection (`DATA/{time,cisi,cran}`, dev queries where a split exists, as
`devsets.load_collection` reads them; queries as typed, as `accord eval` passes them) the script
builds or reuses one index at `WORK/<collection>` with the build defaults, the way `accord eval`
does, then runs the judged queries through `Engine.search` at the ranking defaults once per
value, that value alone changed. Every setting but three changes only how a query is read,
scored or fused, so one build serves every value and each query is embedded once; a stemmer,
stop-list or title-boost value is a build setting (`BuildSettings.stemmer`, `stop_words`,
`title_boost`), so it searches its own index (`WORK/<collection>-<setting>-<value>`, kept and
updated like any index), built by `build` with the collection's settings and that one changed.
Its passages are the same, so they are embedded through the first build's embedding cache:
nothing is embedded again. The engine reads queries as the index it opens was built. The
keyword leg is run too where the setting changes it (not for fusion, feedback and coverage,
which only the hybrid uses).

Reported per collection, for each value against each reference value (`--against`): the
hybrid nDCG@10 of both, the difference, the queries won, lost and tied, and the p-value of a
paired randomisation test (`search.evaluation.compare_runs`, the function behind
`accord eval --compare`). A value is kept only when no collection loses to the reference by
more than noise (a loss with p < 0.05). Of the kept values, the one with the best mean is
chosen. The leave-one-collection-out table then picks, for each collection in turn, the value
this rule would choose from the other two alone, and shows what that pick does on the one left
out: a choice that only fits the collections it was picked on shows up there as a loss.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.devsets import DEV_COLLECTIONS, load_collection
from index.embedding.encoder import Encoder, EncoderBase, embed_queries
from index.errors import InvalidArgument
from index.pipeline.builder import build
from index.storage.factory import open_store
from index.storage.keyword import IDFS, QUERY_TERM_WEIGHTINGS, query_term_weighting
from index.storage.manifest import STEMMERS, STOP_LISTS, BuildSettings, read_manifest
from search.engine import Engine, RankingConfig
from search.evaluation import DEPTH, Comparison, Run, compare_runs, run_queries, score_run
from search.feedback import Feedback


def idf(value: str) -> RankingConfig:
    """The keyword leg's idf (`RankingConfig.idf`, one of index.storage.keyword.IDFS); the index is the same."""
    if value not in IDFS:
        raise SystemExit(f"--values {value}: the idf is one of {', '.join(IDFS)}")
    return replace(RankingConfig(), idf=value)


def stemmer(value: str) -> dict[str, str]:
    """The build setting of a stemmer value (`BuildSettings.stemmer`), the stop list unchanged."""
    if value not in STEMMERS:
        raise SystemExit(f"--values {value}: the stemmer is one of {', '.join(STEMMERS)}")
    return {"stemmer": value}


def stop_list(value: str) -> dict[str, str]:
    """The build setting of a stop-list value (`BuildSettings.stop_words`), the stemmer unchanged."""
    if value not in STOP_LISTS:
        raise SystemExit(f"--values {value}: the stop list is one of {', '.join(STOP_LISTS)}")
    return {"stop_words": value}


def title_boost(value: str) -> dict[str, float]:
    """The build setting of a title boost (`BuildSettings.title_boost`: how many times a real
    title is written in front of the body, rounded)."""
    try:
        boost = float(value)
    except ValueError:
        boost = -1.0
    if not 0.0 <= boost <= 10.0:
        raise SystemExit(f"--values {value}: a title boost is a number from 0 to 10")
    return {"title_boost": boost}


def variant_index(setting: str, index_dir: Path, docs: Path, value: str) -> Path:
    """The index of `docs` built with the settings of the index at `index_dir` but `setting`'s
    `value` (`WORK/<collection>-<setting>-<value>`), through `build` like any index: made once,
    then updated (a no-op while `docs` and the settings are unchanged; rebuilt when the first
    build's settings changed). Its passages are the first build's, so they are embedded through
    that index's embedding cache: the model embeds nothing. Says on stderr how many passages it
    embedded."""
    changed = SETTINGS[setting].build
    if changed is None:
        raise ValueError(f"{setting} is not a build setting")
    built = read_manifest(index_dir)
    settings = replace(built.settings, **changed(value))
    variant = index_dir.with_name(f"{index_dir.name}-{setting}-{value}")
    report = build([docs], variant, model=built.model, settings=settings, embedding_cache=open_store(index_dir).default_cache_path)
    print(f"{variant.name}: {report.embedded} passages embedded", file=sys.stderr)
    return variant


def _number(value: str, text: str, low: float, high: float, what: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not low <= number <= high:
        raise SystemExit(f"--values {value}: {what}")
    return number


PAGE = 10  # the hits of a first page, as `accord search` and the web page ask for them


def fusion(value: str) -> RankingConfig:
    """`convex=W` (convex fusion of min-max scaled legs, keyword weight W), `max=W` (the same of
    legs divided by their best score) or `rrf=K` (reciprocal rank fusion; the coverage lift
    applies to convex fusion only, as in the engine)."""
    method, _, number = value.partition("=")
    scales = {"convex": "min-max", "max": "max"}
    if method in scales:
        weight = _number(value, number, 0.0, 1.0, f"{method}=W takes a weight from 0 to 1")
        return replace(RankingConfig(), fusion="convex", weight=weight, scale=scales[method])
    if method == "rrf":
        return replace(RankingConfig(), fusion="rrf", rrf_k=int(_number(value, number, 0, 10_000, "rrf=K takes a whole k >= 0")))
    raise SystemExit(f"--values {value}: the fusion is convex=<keyword weight>, max=<keyword weight> or rrf=<k>")


def bm25(value: str) -> RankingConfig:
    """`K1/B`: BM25F's term-frequency saturation and length normalisation."""
    k1, _, b = value.partition("/")
    return replace(RankingConfig(), bm25_k1=_number(value, k1, 0.0, 100.0, "bm25 takes K1/B, say 2.0/0.75"),
                   bm25_b=_number(value, b, 0.0, 1.0, "bm25 takes K1/B with B from 0 to 1"))


def feedback(value: str) -> RankingConfig:
    """`off`, or `DOCS/TERMS/WEIGHT` (search.feedback.Feedback)."""
    if value == "off":
        return replace(RankingConfig(), feedback=None)
    parts = value.split("/")
    if len(parts) != 3:
        raise SystemExit(f"--values {value}: feedback is off or DOCS/TERMS/WEIGHT, say 5/10/0.2")
    try:
        settings = Feedback(docs=int(parts[0]), terms=int(parts[1]), weight=float(parts[2]))
    except (ValueError, InvalidArgument) as err:
        raise SystemExit(f"--values {value}: {err}") from None
    return replace(RankingConfig(), feedback=settings)


def coverage(value: str) -> RankingConfig:
    """The coverage lift's weight (`RankingConfig.coverage_boost`; 0: off)."""
    return replace(RankingConfig(), coverage_boost=_number(value, value, 0.0, 10.0, "coverage takes a weight from 0 to 10"))


def depth(value: str) -> RankingConfig:
    """The candidates each leg gives a first page of ten (`RankingConfig.min_fetch`, with
    `fetch_factor` a tenth of it, so larger pages scale the same way)."""
    fetch = _number(value, value, 10, 10_000, "depth takes a whole multiple of 10 from 10 to 10000")
    if fetch != int(fetch) or int(fetch) % PAGE:
        raise SystemExit(f"--values {value}: depth takes a whole multiple of 10 from 10 to 10000")
    return replace(RankingConfig(), min_fetch=int(fetch), fetch_factor=int(fetch) // PAGE)


def _unchanged(value: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def _defaults(value: str) -> RankingConfig:
    return RankingConfig()


@dataclass(frozen=True)
class Setting:
    """One setting the protocol can run: what it changes, how a value is applied (a context the
    engines are opened and the searches run inside; the ranking the engines are opened with;
    for a build setting, the `BuildSettings` fields its own index is built with), and which
    modes it changes."""

    what: str
    context: Callable[[str], contextlib.AbstractContextManager] = _unchanged
    ranking: Callable[[str], RankingConfig] = _defaults
    build: Callable[[str], dict[str, Any]] | None = None
    modes: tuple[str, ...] = ("hybrid", "keyword")
    hits: int = DEPTH  # each search's k: the top 100 (Recall@100 and MAP@100), or one page


SETTINGS: dict[str, Setting] = {
    "query-terms": Setting(f"the weight of a query word typed c times: {', '.join(QUERY_TERM_WEIGHTINGS)} or k3=<value>",
                           context=query_term_weighting),
    "idf": Setting(f"the keyword leg's idf (RankingConfig.idf): {', '.join(IDFS)}", ranking=idf),
    "stemmer": Setting(f"the keyword leg's stemmer (BuildSettings.stemmer): {', '.join(STEMMERS)}", build=stemmer),
    "stop-list": Setting(f"the keyword leg's stop list (BuildSettings.stop_words): {', '.join(STOP_LISTS)}", build=stop_list),
    "title-boost": Setting("how many times a real title is written in front of the body (BuildSettings.title_boost)",
                           build=title_boost),
    "bm25": Setting("BM25F k1/b (RankingConfig.bm25_k1, bm25_b), say 2.0/0.75", ranking=bm25),
    "fusion": Setting("the hybrid's fusion: convex=<keyword weight> (min-max scaled legs), max=<keyword weight> "
                      "(legs divided by their best) or rrf=<k> (RankingConfig.fusion, weight, scale, rrf_k)",
                      ranking=fusion, modes=("hybrid",)),
    "feedback": Setting("keyword pseudo-relevance feedback in the hybrid: off or DOCS/TERMS/WEIGHT (RankingConfig.feedback)",
                        ranking=feedback, modes=("hybrid",)),
    "coverage": Setting("the coverage lift's weight after fusion, 0: off (RankingConfig.coverage_boost)",
                        ranking=coverage, modes=("hybrid",)),
    # A search for k hits asks each leg for max(fetch_factor * k, min_fetch) candidates, so the
    # top 100 the other settings score are fused from 1,000 per leg; the depth is measured as
    # served instead: one page of ten per query, fused from `value` candidates per leg.
    "depth": Setting("the candidates each leg gives a first page of ten, scored as served at k=10 "
                     "(RankingConfig.min_fetch, fetch_factor a tenth of it), say 100",
                     ranking=depth, modes=("hybrid",), hits=PAGE),
}
METRIC = "nDCG@10"


class QueryVectors(EncoderBase):
    """The index's encoder with each query embedded once for every value of a run (no value
    changes what the semantic leg embeds), and the model loaded once."""

    def __init__(self, encoder: Encoder) -> None:
        encoder.prefer_latency()
        self._encoder = encoder
        self.name, self.dim, self.max_tokens = encoder.name, encoder.dim, encoder.max_tokens
        self._seen: dict[str, np.ndarray] = {}

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._encoder.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode(texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, embed_queries(self._encoder, missing), strict=True))
        return np.stack([self._seen[t] for t in texts])


def collection_runs(
    folder: Path, index_dir: Path, setting: str, values: Sequence[str], model: str | None = None, hits: int | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Run]], dict[str, dict[str, int]]]:
    """Each value's mean nDCG@10 and run per mode on the collection in `folder`, and its qrels;
    each search asks for `hits` (default: the setting's own)."""
    collection = load_collection(folder)
    build([collection.docs], index_dir, model=model)
    chosen = SETTINGS[setting]
    with Engine.open(index_dir) as engine:
        encoder = QueryVectors(engine.encoder)
    means: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, Run]] = {}
    for value in values:
        searched = variant_index(setting, index_dir, collection.docs, value) if chosen.build else index_dir
        # The engine is opened inside the value's context (a query-term weighting is a context).
        with chosen.context(value), Engine.open(searched, encoder=encoder, ranking=chosen.ranking(value)) as engine:
            runs[value] = {mode: run_queries(engine, collection.queries, mode, hits or chosen.hits)[0] for mode in chosen.modes}
        means[value] = {mode: score_run(collection.qrels, run)[METRIC] for mode, run in runs[value].items()}
    return means, runs, collection.qrels


def kept(comparisons: dict[str, Comparison]) -> bool:
    """No collection loses by more than noise."""
    return not any(c.significant_loss for c in comparisons.values())


def choose(
    values: Sequence[str], reference: str, per_collection: dict[str, dict[str, dict[str, Comparison]]], names: Sequence[str]
) -> str:
    """The value with the best mean hybrid difference to `reference` over `names` among the
    values no collection of `names` rejects; `reference` itself when none beats it."""
    best, best_gain = reference, 0.0
    for value in values:
        if value == reference:
            continue
        comparisons = {name: per_collection[name][value][reference] for name in names}
        gain = statistics.mean(c.difference for c in comparisons.values())
        if kept(comparisons) and gain > best_gain:
            best, best_gain = value, gain
    return best


def report(
    setting: str, values: Sequence[str], against: Sequence[str], names: Sequence[str],
    means: dict[str, dict[str, dict[str, float]]], per_collection: dict[str, dict[str, dict[str, Comparison]]],
    hits: int = DEPTH,
) -> str:
    """The markdown tables: means per value, each value against each reference, and the
    leave-one-collection-out check against the first reference."""
    keyword = "keyword" in SETTINGS[setting].modes
    lines = [f"Setting `{setting}` ({SETTINGS[setting].what}); {METRIC} of the top {hits}, hybrid"
             + (" (keyword leg in brackets)." if keyword else "."), ""]
    lines += ["| value | " + " | ".join(names) + " | mean |", "|---|" + "---:|" * (len(names) + 1)]
    for value in values:
        cells = [f"{means[n][value]['hybrid']:.4f}" + (f" ({means[n][value]['keyword']:.4f})" if keyword else "") for n in names]
        lines.append(f"| {value} | " + " | ".join(cells) + f" | {statistics.mean(means[n][value]['hybrid'] for n in names):.4f} |")
    for reference in against:
        lines += ["", f"Against `{reference}` (hybrid; wins/losses/ties over the judged queries; p: paired randomisation test):", ""]
        lines += ["| value | collection | " + reference + " | value's | difference | W/L/T | p | verdict |",
                  "|---|---|---:|---:|---:|---|---:|---|"]
        for value in values:
            if value == reference:
                continue
            comparisons = {n: per_collection[n][value][reference] for n in names}
            verdict = "kept" if kept(comparisons) else "rejected"
            for n, c in comparisons.items():
                flag = "loss > noise" if c.significant_loss else ("gain > noise" if c.difference > 0 and c.p_value < 0.05 else "")
                lines.append(f"| {value} | {n} | {c.baseline:.4f} | {c.score:.4f} | {c.difference:+.4f} | "
                             f"{c.wins}/{c.losses}/{c.ties} | {c.p_value:.3f} | {flag} |")
            lines.append(f"| {value} | mean | | | {statistics.mean(c.difference for c in comparisons.values()):+.4f} | | | **{verdict}** |")
        chosen = choose(values, reference, per_collection, names)
        lines += ["", f"Chosen against `{reference}` on all {len(names)}: **{chosen}**."]
    reference = against[0]
    if len(names) < 2:  # nothing is left to choose on
        lines += ["", "Leave one collection out: needs two collections or more."]
        return "\n".join(lines)
    lines += ["", f"Leave one collection out (against `{reference}`): the value chosen on the other collections, on the one left out.", "",
              "| left out | chosen on the others | difference there | W/L/T | p |", "|---|---|---:|---|---:|"]
    for n in names:
        pick = choose(values, reference, per_collection, [m for m in names if m != n])
        if pick == reference:
            lines.append(f"| {n} | {pick} | +0.0000 | | |")
        else:
            c = per_collection[n][pick][reference]
            lines.append(f"| {n} | {pick} | {c.difference:+.4f} | {c.wins}/{c.losses}/{c.ties} | {c.p_value:.3f} |")
    return "\n".join(lines)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - started:.0f} s", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder holding the dev collections (time, cisi, cran)")
    parser.add_argument("--indexes", type=Path, required=True, help="folder of one index per collection, built when missing")
    parser.add_argument("--collections", nargs="+", default=list(DEV_COLLECTIONS), help="collection folders under DATA")
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="query-terms",
                        help="; ".join(f"{name}: {setting.what}" for name, setting in SETTINGS.items()))
    parser.add_argument("--values", nargs="+", required=True, help="the setting's values to run (the references among them)")
    parser.add_argument("--against", nargs="+", required=True, help="reference values (the first: the current default)")
    parser.add_argument("--model", help="embedding model of a new index (default: the index's own, else MiniLM)")
    parser.add_argument("--hits", type=int, choices=(PAGE, DEPTH),
                        help=f"each search's k: {PAGE} scores a first page as served, {DEPTH} the top {DEPTH} as accord eval "
                             "does (default: the setting's own, 100 for all but depth)")
    parser.add_argument("--json", type=Path, help="also write every mean and comparison here")
    args = parser.parse_args(argv)
    if args.hits is not None and args.setting == "depth" and args.hits != PAGE:
        parser.error(f"--hits {args.hits}: the depth setting scores a first page of {PAGE}")
    missing = [v for v in args.against if v not in args.values]
    if missing:
        parser.error(f"--against {missing[0]}: also list it in --values")
    for value in args.values:  # a misspelt value fails here, not after minutes of building
        try:
            setting = SETTINGS[args.setting]
            setting.ranking(value)
            with setting.context(value):
                pass
            if setting.build:
                BuildSettings(**setting.build(value))
        except (InvalidArgument, SystemExit) as err:
            parser.error(str(err))
    for name in args.collections:
        if not (args.data / name / "docs.jsonl").is_file():
            parser.error(f"{args.data / name}: no docs.jsonl; pass the folder holding {', '.join(args.collections)}")

    means: dict[str, dict[str, dict[str, float]]] = {}
    per_collection: dict[str, dict[str, dict[str, Comparison]]] = {}
    for name in args.collections:
        with timed(name):
            means[name], runs, qrels = collection_runs(
                args.data / name, args.indexes / name, args.setting, args.values, args.model, args.hits)
        per_collection[name] = {
            value: {ref: compare_runs(qrels, runs[ref]["hybrid"], runs[value]["hybrid"], METRIC) for ref in args.against}
            for value in args.values
        }
    hits = args.hits or SETTINGS[args.setting].hits
    print(report(args.setting, args.values, args.against, args.collections, means, per_collection, hits))
    if args.json:
        args.json.write_text(json.dumps({
            "setting": args.setting, "hits": hits, "means": means,
            "comparisons": {n: {v: {r: asdict(c) for r, c in refs.items()} for v, refs in by_value.items()}
                            for n, by_value in per_collection.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
