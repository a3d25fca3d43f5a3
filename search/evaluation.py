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
from dataclasses import dataclass
from pathlib import Path

from index.errors import InvalidArgument, QuerySyntaxError, SourceNotFound
from search.engine import MODES, Engine

DEPTH = 100
# Names shown to users, and the ir-measures measure each stands for.
METRICS = {"nDCG@10": "nDCG@10", "MRR@10": "RR@10", "R@100": "R@100", "MAP@100": "AP@100"}

Run = dict[str, list[tuple[str, float]]]


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


def score_run(qrels: Mapping[str, Mapping[str, int]], run: Run) -> dict[str, float]:
    """Mean of each metric over every judged query (a query with no hits scores 0)."""
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
    return {name: sum(values.get(q, 0.0) for q in judged) / len(judged) for name, values in per_query.items()}


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
