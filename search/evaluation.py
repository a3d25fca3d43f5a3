"""Retrieval quality: run judged queries through every mode and score them with ir-measures.

Inputs are the standard formats: queries as TSV (`qid<TAB>text`), judgments as TREC qrels
(`qid 0 docid relevance`), articles as JSONL through the normal indexing path. Metrics come from
ir-measures (trec_eval underneath), never hand-written: nDCG@10, MRR@10 (RR@10), Recall@100 and
MAP over the top 100 (AP@100). Every judged query counts: one with no hits scores 0, it is not
left out of the average. A query the engine refuses (say, malformed syntax under a strict
reading) does not stop the evaluation: it scores 0 like a query with no hits, and the scores
list it with the reason, so a caller can report it or fail on it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from index.errors import InvalidArgument, QuerySyntaxError, SourceNotFound
from index.extras import require
from search.engine import MODES, Engine

DEPTH = 100
# Names shown to users, and the ir-measures measure each stands for.
METRICS = {"nDCG@10": "nDCG@10", "MRR@10": "RR@10", "R@100": "R@100", "MAP@100": "AP@100"}

Run = dict[str, list[tuple[str, float]]]
# The metric query-by-query comparisons are made on.
COMPARE_METRIC = "nDCG@10"
# Random sign flips of the paired randomisation test; exact (every flip) below 2**14 queries'
# worth. Seeded, so the same runs always give the same p-value.
RESAMPLES = 10_000
SEED = 20071106
# Two per-query scores closer than this are a tie (trec_eval's values are rounded floats).
TIE = 1e-9


@dataclass(frozen=True)
class Comparison:
    """One metric of two runs over the same judged queries: the baseline's and this run's means,
    the difference (this minus baseline), the queries this run scores higher on (`wins`), lower
    on (`losses`) and the same on (`ties`), and the two-sided p-value of a paired randomisation
    test on the per-query differences (`test` names it)."""

    metric: str
    queries: int
    baseline: float
    score: float
    difference: float
    wins: int
    losses: int
    ties: int
    p_value: float
    test: str = "paired randomisation (sign flips), two-sided"

    @property
    def significant_loss(self) -> bool:
        """This run is worse than the baseline by more than noise (p < 0.05)."""
        return self.difference < 0 and self.p_value < 0.05


@dataclass(frozen=True)
class FailedQuery:
    """A judged query the engine could not run, and the engine's reason in words."""

    qid: str
    query: str
    reason: str


@dataclass(frozen=True)
class ModeScores:
    """Mean metrics of one mode over the judged queries; `failed` lists the queries that could
    not be run (each scored 0 in the means)."""

    mode: str
    queries: int
    metrics: dict[str, float]
    failed: tuple[FailedQuery, ...] = ()
    # Against a baseline run of the same mode, when one was given (`compare_scores`).
    comparison: Comparison | None = None


def read_queries(path: Path) -> dict[str, str]:
    """Queries from a TSV file of `qid<TAB>text` lines."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    except FileNotFoundError:
        raise SourceNotFound(f"{path}: no such queries file; pass a TSV of qid<TAB>text lines") from None
    # A line without a tab is a broken file; a query id with empty text is a query that cannot
    # be run, which `evaluate` reports with the rest rather than refusing the whole file.
    bad = [i for i, row in enumerate(rows, start=1) if len(row) < 2 or not row[0].strip()]
    if bad:
        raise InvalidArgument(f"{path}:{bad[0]}: expected qid<TAB>query text")
    return {row[0].strip(): row[1].strip() for row in rows}


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Judgments from a TREC qrels file (`qid iteration docid relevance` per line)."""
    qrels: dict[str, dict[str, int]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SourceNotFound(f"{path}: no such qrels file; pass TREC qrels (qid 0 docid relevance)") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4 or not parts[3].lstrip("-").isdigit():
            raise InvalidArgument(f"{path}:{number}: expected 'qid 0 docid relevance'")
        qrels.setdefault(parts[0], {})[parts[2]] = int(parts[3])
    return qrels


def run_queries(
    engine: Engine, queries: Mapping[str, str], mode: str, depth: int = DEPTH
) -> tuple[Run, list[FailedQuery]]:
    """The top `depth` article ids with scores for every query the engine accepts, in `mode`,
    and the queries it refused (malformed syntax, an empty query) with its reason."""
    run: Run = {}
    failed: list[FailedQuery] = []
    for qid, text in queries.items():
        try:
            run[qid] = [(hit.id, hit.score) for hit in engine.search(text, k=depth, mode=mode)]  # type: ignore[arg-type]
        except (QuerySyntaxError, InvalidArgument) as err:
            failed.append(FailedQuery(qid, text, str(err)))
    return run, failed


def per_query_scores(qrels: Mapping[str, Mapping[str, int]], run: Run) -> dict[str, dict[str, float]]:
    """Each metric's value on every judged query (one with at least one relevant document), by
    metric name then query id; a judged query with no hits scores 0. Raises InvalidArgument when
    the qrels judge nothing relevant."""
    require("eval")
    import ir_measures

    measures = {name: ir_measures.parse_measure(spec) for name, spec in METRICS.items()}
    # trec_eval re-sorts by score and breaks ties by doc id; scoring by rank keeps our order.
    ranked = {qid: {doc: float(len(hits) - i) for i, (doc, _s) in enumerate(hits)} for qid, hits in run.items()}
    per_query: dict[str, dict[str, float]] = {name: {} for name in measures}
    by_measure = {measure: name for name, measure in measures.items()}
    for metric in ir_measures.iter_calc(list(measures.values()), qrels, ranked):
        per_query[by_measure[metric.measure]][metric.query_id] = metric.value
    judged = [qid for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())]
    if not judged:
        raise InvalidArgument("the qrels judge no document relevant; nothing to evaluate")
    return {name: {q: values.get(q, 0.0) for q in judged} for name, values in per_query.items()}


def score_run(qrels: Mapping[str, Mapping[str, int]], run: Run) -> dict[str, float]:
    """Mean of each metric over every judged query (a query with no hits scores 0)."""
    return {name: sum(values.values()) / len(values) for name, values in per_query_scores(qrels, run).items()}


def paired_p_value(differences: Sequence[float]) -> float:
    """Two-sided p-value that per-query `differences` (one run minus another) have mean 0: a
    paired randomisation test, each difference's sign flipped at random (every flip when there
    are few enough), with scipy. 1.0 when every difference is 0."""
    import numpy as np
    from scipy.stats import permutation_test

    values = np.asarray(differences, dtype=float)
    if not values.size or not np.any(np.abs(values) > TIE):
        return 1.0
    result = permutation_test(
        (values,), lambda x, axis: np.mean(x, axis=axis), permutation_type="samples",
        n_resamples=RESAMPLES, vectorized=True, rng=np.random.default_rng(SEED),
    )
    return float(min(result.pvalue, 1.0))


def compare_runs(
    qrels: Mapping[str, Mapping[str, int]], baseline: Run, run: Run, metric: str = COMPARE_METRIC
) -> Comparison:
    """`run` against `baseline` on `metric` (a METRICS name), query by query over every judged
    query (a query missing from a run scores 0 there). Raises InvalidArgument for an unknown
    metric or qrels that judge nothing relevant."""
    if metric not in METRICS:
        raise InvalidArgument(f"metric {metric!r}: use one of {', '.join(METRICS)}")
    before = per_query_scores(qrels, baseline)[metric]
    after = per_query_scores(qrels, run)[metric]
    differences = [after[q] - before[q] for q in before]
    n = len(differences)
    return Comparison(
        metric=metric,
        queries=n,
        baseline=sum(before.values()) / n,
        score=sum(after.values()) / n,
        difference=sum(differences) / n,
        wins=sum(d > TIE for d in differences),
        losses=sum(d < -TIE for d in differences),
        ties=sum(abs(d) <= TIE for d in differences),
        p_value=paired_p_value(differences),
    )


def compare_scores(
    scores: Sequence[ModeScores], runs: Mapping[str, Run], baselines: Mapping[str, Run],
    qrels: Mapping[str, Mapping[str, int]], metric: str = COMPARE_METRIC,
) -> list[ModeScores]:
    """`scores` with each mode that has a baseline run (by mode name) compared to it."""
    return [
        replace(s, comparison=compare_runs(qrels, baselines[s.mode], runs[s.mode], metric)) if s.mode in baselines else s
        for s in scores
    ]


def evaluate(
    engine: Engine,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    modes: Sequence[str] = MODES,
    depth: int = DEPTH,
) -> tuple[list[ModeScores], dict[str, Run]]:
    """Score each mode on the judged queries; returns the scores and the runs behind them."""
    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    if not judged:
        raise InvalidArgument("no query id appears in the qrels; check that the two files match")
    runs: dict[str, Run] = {}
    scores = []
    for mode in modes:
        runs[mode], failed = run_queries(engine, judged, mode, depth)
        scores.append(ModeScores(mode, len(judged), score_run(qrels, runs[mode]), tuple(failed)))
    return scores, runs


def failed_queries(scores: Iterable[ModeScores]) -> dict[str, FailedQuery]:
    """Every query that failed in any mode, by query id (the first reason given)."""
    failed: dict[str, FailedQuery] = {}
    for mode_scores in scores:
        for failure in mode_scores.failed:
            failed.setdefault(failure.qid, failure)
    return failed


def write_trec_run(path: Path, run: Run, tag: str) -> None:
    """Write a run in TREC format: `qid Q0 docid rank score tag`."""
    with open(path, "w", encoding="utf-8") as handle:
        for qid, hits in run.items():
            for rank, (doc, score) in enumerate(hits, start=1):
                handle.write(f"{qid} Q0 {doc} {rank} {score:.6f} {tag}\n")


def read_trec_run(path: Path) -> Run:
    """A run from a TREC run file (`qid Q0 docid rank score tag` per line), each query's hits in
    rank order (score order, best first, where ranks tie). Raises SourceNotFound for a missing
    file and InvalidArgument, naming the line, for a malformed one."""
    hits: dict[str, list[tuple[int, float, str]]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SourceNotFound(f"{path}: no such run file; pass a TREC run (qid Q0 docid rank score tag)") from None
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) != 6:
                raise ValueError
            rank, score = int(parts[3]), float(parts[4])
        except ValueError:
            raise InvalidArgument(f"{path}:{number}: expected 'qid Q0 docid rank score tag'") from None
        hits.setdefault(parts[0], []).append((rank, -score, parts[2]))
    return {qid: [(doc, -negated) for _rank, negated, doc in sorted(found)] for qid, found in hits.items()}


def read_baselines(path: Path) -> dict[str, Run]:
    """Baseline runs by mode: from a folder `accord eval --run-out` wrote (`accord-<mode>.run`
    for each mode there), or from one TREC run file, which stands as the baseline of every mode.
    Raises SourceNotFound when the path is missing or the folder holds no such file."""
    path = Path(path)
    if path.is_dir():
        found = {mode: path / f"accord-{mode}.run" for mode in MODES}
        runs = {mode: read_trec_run(file) for mode, file in found.items() if file.is_file()}
        if not runs:
            raise SourceNotFound(
                f"{path}: no accord-<mode>.run files; pass a folder written by `accord eval --run-out` or a TREC run file"
            )
        return runs
    run = read_trec_run(path)
    return {mode: run for mode in MODES}


def format_table(scores: Iterable[ModeScores]) -> str:
    """A markdown table of modes by metrics."""
    scores = list(scores)
    header = "| mode | " + " | ".join(METRICS) + " |"
    rule = "|---|" + "---:|" * len(METRICS)
    rows = [
        f"| {s.mode} | " + " | ".join(f"{s.metrics[name]:.4f}" for name in METRICS) + " |"
        for s in scores
    ]
    return "\n".join([header, rule, *rows])


def format_comparison(scores: Iterable[ModeScores]) -> str:
    """A markdown table of each compared mode against its baseline: the means, the difference,
    wins, losses, ties and the paired p-value ("" when no mode was compared)."""
    compared = [(s.mode, s.comparison) for s in scores if s.comparison is not None]
    if not compared:
        return ""
    metric = compared[0][1].metric
    header = f"| mode | baseline {metric} | this run | difference | wins | losses | ties | p |"
    rows = [
        f"| {mode} | {c.baseline:.4f} | {c.score:.4f} | {c.difference:+.4f} | {c.wins} | {c.losses} | {c.ties} | {c.p_value:.3f} |"
        for mode, c in compared
    ]
    return "\n".join([header, "|---|---:|---:|---:|---:|---:|---:|---:|", *rows])
