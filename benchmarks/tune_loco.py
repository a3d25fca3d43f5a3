"""A ranking choice that must hold on collections nobody tuned it on: each value of a setting
against the current default on TIME dev, CISI and Cranfield, query by query, and a
leave-one-collection-out check of the choice (docs/tuning.md, Q table).

    python benchmarks/tune_loco.py DATA --indexes WORK \
        --values linear once log k3=7 k3=3 k3=1.2 --against linear once
    python benchmarks/tune_loco.py DATA --indexes WORK --setting idf --values lucene whoosh --against lucene
    python benchmarks/tune_loco.py DATA --indexes WORK --setting stemmer --values snowball porter --against snowball

For every collection (`DATA/{time,cisi,cran}`, dev queries where a split exists, as
`devsets.load_collection` reads them; queries as typed, as `accord eval` passes them) the script
builds or reuses one index at `WORK/<collection>` with the build defaults, the way `accord eval`
does, then runs the judged queries through `Engine.search` at the ranking defaults once per
value. The query-term weighting and the idf change only how a query is read or scored, so one
build serves every value and each query is embedded once; a stemmer value searches a copy of
that build whose keyword index alone is rewritten (`WORK/<collection>-stemmer-<value>`, kept).

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
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from devsets import DEV_COLLECTIONS, load_collection, read_collection_articles, write_keyword_only  # noqa: E402
from whoosh import scoring  # noqa: E402
from whoosh.analysis import StemmingAnalyzer  # noqa: E402
from whoosh.lang import stemmer_for_language, stopwords_for_language  # noqa: E402
from whoosh.lang.porter import stem  # noqa: E402

import index.storage.keyword as keyword_module  # noqa: E402
import search.query as query_module  # noqa: E402
from index.embedding.encoder import Encoder, EncoderBase, embed_queries  # noqa: E402
from index.errors import InvalidArgument  # noqa: E402
from index.pipeline.builder import build  # noqa: E402
from index.storage.keyword import QUERY_TERM_WEIGHTINGS, query_term_weighting  # noqa: E402
from search.engine import Engine, RankingConfig  # noqa: E402
from search.evaluation import Comparison, Run, compare_runs, run_queries, score_run  # noqa: E402

IDFS = {
    "lucene": keyword_module.keyword_weighting,
    # whoosh's own, log(N / (n + 1)) + 1 (Accord's before format 3).
    "whoosh": lambda k1, b: scoring.BM25F(B=b, K1=k1),
}


@contextlib.contextmanager
def idf(value: str) -> Iterator[None]:
    """Keyword stores opened inside score with another idf (`IDFS`); the index is the same.
    The store takes its weighting from `keyword_weighting` when it opens, so that is swapped
    here, for this run only: the library has no switch for a setting nobody should change."""
    if value not in IDFS:
        raise SystemExit(f"--values {value}: the idf is one of {', '.join(IDFS)}")
    original = keyword_module.keyword_weighting
    keyword_module.keyword_weighting = IDFS[value]
    try:
        yield
    finally:
        keyword_module.keyword_weighting = original


STEMMERS = {
    "snowball": lambda: stemmer_for_language("en"),
    "porter": lambda: stem,  # whoosh's default (Accord's before format 3)
}


@contextlib.contextmanager
def stemmer(value: str) -> Iterator[None]:
    """Keyword indexes written and queries parsed inside stem with another stemmer (`STEMMERS`),
    the stop list unchanged; swapped here for this run only, like `idf`."""
    if value not in STEMMERS:
        raise SystemExit(f"--values {value}: the stemmer is one of {', '.join(STEMMERS)}")
    original = keyword_module.keyword_analyzer
    keyword_module.keyword_analyzer = lambda: StemmingAnalyzer(stemfn=STEMMERS[value](), stoplist=stopwords_for_language("en"))
    query_module._parser.cache_clear()  # the parser keeps the analyzer it was made with
    try:
        yield
    finally:
        keyword_module.keyword_analyzer = original
        query_module._parser.cache_clear()


def stemmed_copy(index_dir: Path, docs: Path, value: str) -> Path:
    """A copy of the built index at `index_dir` whose keyword index is rewritten under
    `stemmer(value)` from the same articles, in the same order, with the same title boost (the
    vectors and articles are copied as they are: no embedding). Made once, then reused."""
    copy = index_dir.with_name(f"{index_dir.name}-stemmer-{value}")
    if copy.exists():
        return copy
    manifest = json.loads((index_dir / "manifest.json").read_text())
    partial = copy.with_name(copy.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(index_dir, partial, ignore=shutil.ignore_patterns("cache", "locks", ".lock"))
    keyword_dir = partial / manifest["generation"] / "keyword"
    shutil.rmtree(keyword_dir)
    with stemmer(value):
        write_keyword_only(keyword_dir, read_collection_articles(docs), manifest["settings"]["title_boost"])
    partial.rename(copy)
    return copy


# setting name -> (what it changes, a context that applies a value to the engines opened and the
# searches run inside it, and for a setting of the index itself, what makes a copy of the built
# index with the value: (index folder, docs, value) -> its folder; None when the index is the
# same for every value).
SETTINGS: dict[str, tuple[str, Callable[[str], contextlib.AbstractContextManager], Callable[[Path, Path, str], Path] | None]] = {
    "query-terms": (f"the weight of a query word typed c times: {', '.join(QUERY_TERM_WEIGHTINGS)} or k3=<value>",
                    query_term_weighting, None),
    "idf": (f"the keyword leg's idf: {', '.join(IDFS)}", idf, None),
    "stemmer": (f"the keyword leg's stemmer, 127 stop words: {', '.join(STEMMERS)}", stemmer, stemmed_copy),
}
MODES = ("hybrid", "keyword")
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
    folder: Path, index_dir: Path, setting: str, values: Sequence[str], model: str | None = None
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Run]], dict[str, dict[str, int]]]:
    """Each value's mean nDCG@10 and run per mode on the collection in `folder`, and its qrels."""
    collection = load_collection(folder)
    build([collection.docs], index_dir, model=model)
    _what, apply, prepare = SETTINGS[setting]
    with Engine.open(index_dir) as engine:
        encoder = QueryVectors(engine.encoder)
    means: dict[str, dict[str, float]] = {}
    runs: dict[str, dict[str, Run]] = {}
    for value in values:
        searched = prepare(index_dir, collection.docs, value) if prepare else index_dir
        # The engine is opened inside the value's context: the keyword store reads its weighting
        # when it opens.
        with apply(value), Engine.open(searched, encoder=encoder, ranking=RankingConfig()) as engine:
            runs[value] = {mode: run_queries(engine, collection.queries, mode)[0] for mode in MODES}
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
) -> str:
    """The markdown tables: means per value, each value against each reference, and the
    leave-one-collection-out check against the first reference."""
    lines = [f"Setting `{setting}` ({SETTINGS[setting][0]}); {METRIC}, hybrid (keyword leg in brackets).", ""]
    lines += ["| value | " + " | ".join(names) + " | mean |", "|---|" + "---:|" * (len(names) + 1)]
    for value in values:
        cells = [f"{means[n][value]['hybrid']:.4f} ({means[n][value]['keyword']:.4f})" for n in names]
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
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="query-terms")
    parser.add_argument("--values", nargs="+", required=True, help="the setting's values to run (the references among them)")
    parser.add_argument("--against", nargs="+", required=True, help="reference values (the first: the current default)")
    parser.add_argument("--model", help="embedding model of a new index (default: the index's own, else MiniLM)")
    parser.add_argument("--json", type=Path, help="also write every mean and comparison here")
    args = parser.parse_args(argv)
    missing = [v for v in args.against if v not in args.values]
    if missing:
        parser.error(f"--against {missing[0]}: also list it in --values")
    for value in args.values:  # a misspelt value fails here, not after minutes of building
        try:
            with SETTINGS[args.setting][1](value):
                pass
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
                args.data / name, args.indexes / name, args.setting, args.values, args.model)
        per_collection[name] = {
            value: {ref: compare_runs(qrels, runs[ref]["hybrid"], runs[value]["hybrid"], METRIC) for ref in args.against}
            for value in args.values
        }
    print(report(args.setting, args.values, args.against, args.collections, means, per_collection))
    if args.json:
        args.json.write_text(json.dumps({
            "setting": args.setting, "means": means,
            "comparisons": {n: {v: {r: asdict(c) for r, c in refs.items()} for v, refs in by_value.items()}
                            for n, by_value in per_collection.items()},
        }, indent=1))


if __name__ == "__main__":
    main()
