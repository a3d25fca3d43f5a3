"""Comparing two runs query by query: wins, losses, ties and a paired p-value, in the library
and through `accord eval --compare`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.errors import InvalidArgument, SourceNotFound
from index.pipeline.builder import build
from search.evaluation import compare_runs, paired_p_value, read_baselines, read_trec_run, write_trec_run
from tests.conftest import requires
from tests.test_evaluation import DOCS

pytestmark = requires("eval")


@pytest.fixture
def collection(tmp_path: Path) -> dict[str, Path]:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\tRIFLES SOMALIA\n2\tWHEAT HARVEST\n3\tNAVAL EXERCISE INDIA\n")
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("1 0 1 1\n2 0 2 1\n3 0 3 1\n")
    return {"docs": docs, "queries": queries, "qrels": qrels}


def test_wins_losses_and_ties_are_counted_per_query():
    qrels = {"a": {"x": 1}, "b": {"x": 1}, "c": {"x": 1}, "d": {"x": 1}}
    top, second = [("x", 2.0), ("y", 1.0)], [("y", 2.0), ("x", 1.0)]
    baseline = {"a": second, "b": second, "c": top, "d": top}
    run = {"a": top, "b": top, "c": second, "d": top}
    result = compare_runs(qrels, baseline, run)
    assert (result.wins, result.losses, result.ties, result.queries) == (2, 1, 1, 4)
    second_ndcg = 1 / 1.5849625
    assert result.baseline == pytest.approx((2 * second_ndcg + 2) / 4, rel=1e-5)
    assert result.difference == pytest.approx((1 - second_ndcg) / 4, rel=1e-5)
    assert not result.significant_loss  # one query lost, three did not: no evidence either way


def test_a_query_missing_from_a_run_scores_zero_there():
    qrels = {"a": {"x": 1}, "b": {"x": 1}}
    result = compare_runs(qrels, {"a": [("x", 1.0)]}, {"a": [("x", 1.0)], "b": [("x", 1.0)]})
    assert (result.wins, result.ties, result.baseline, result.score) == (1, 1, 0.5, 1.0)


def test_p_value_is_exact_for_few_queries_and_one_for_no_difference():
    # 12 queries all better by the same amount: of the 4,096 sign flips, only "all +" and
    # "all -" reach a mean that large, so the two-sided p-value is 2 / 4096.
    assert paired_p_value([0.1] * 12) == pytest.approx(2 / 4096)
    assert paired_p_value([0.0] * 12) == 1.0
    assert paired_p_value([0.3, -0.3, 0.1, -0.1]) == 1.0  # a zero mean: every flip is as large
    assert paired_p_value([0.2, -0.1] * 10) == pytest.approx(paired_p_value([0.2, -0.1] * 10))  # seeded


def test_a_consistent_loss_over_many_queries_is_significant():
    qrels = {str(i): {"x": 1} for i in range(30)}
    good = {q: [("x", 2.0), ("y", 1.0)] for q in qrels}
    worse = {q: [("y", 2.0), ("x", 1.0)] if int(q) % 3 else good[q] for q in qrels}
    result = compare_runs(qrels, good, worse)
    assert result.losses == 20 and result.ties == 10 and result.p_value < 0.001
    assert result.significant_loss


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(InvalidArgument, match="metric 'P@5'"):
        compare_runs({"a": {"x": 1}}, {}, {}, metric="P@5")


def test_trec_runs_read_back_in_rank_order(tmp_path):
    run = {"q1": [("b", 0.5), ("a", 0.5), ("c", 0.1)], "q2": [("z", 3.0)]}
    write_trec_run(tmp_path / "r.run", run, "t")
    assert read_trec_run(tmp_path / "r.run") == run
    bad = tmp_path / "bad.run"
    bad.write_text("q1 Q0 a 1 0.5 t\nq1 Q0 b two 0.4 t\n")
    with pytest.raises(InvalidArgument, match="bad.run:2: expected 'qid Q0 docid rank score tag'"):
        read_trec_run(bad)
    with pytest.raises(SourceNotFound, match="no such run file"):
        read_trec_run(tmp_path / "missing.run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceNotFound, match="no accord-<mode>.run files"):
        read_baselines(tmp_path / "empty")


def _eval(collection: dict[str, Path], index_dir: Path, *extra: str):
    args = ["eval", "--docs", str(collection["docs"]), "--queries", str(collection["queries"]),
            "--qrels", str(collection["qrels"]), "--index", str(index_dir), *extra]
    result = CliRunner().invoke(app, args)
    print(result.output)
    return result


def test_eval_compares_with_a_saved_run_mode_by_mode(tmp_path, collection, encoder):
    index_dir = tmp_path / "ix"
    build([collection["docs"]], index_dir, encoder=encoder)
    assert _eval(collection, index_dir, "--run-out", str(tmp_path / "a")).exit_code == 0
    same = json.loads(_eval(collection, index_dir, "--compare", str(tmp_path / "a"), "--json").stdout)
    for row in same:
        comparison = row["comparison"]
        assert (comparison["wins"], comparison["losses"], comparison["ties"], comparison["p_value"]) == (0, 0, 3, 1.0)
    plain = json.loads(_eval(collection, index_dir, "--json").stdout)
    assert all(row["comparison"] is None for row in plain)

    # A worse baseline: every query's relevant article in second place.
    worse = tmp_path / "worse.run"
    worse.write_text("".join(f"{q} Q0 {o} 1 2.0 w\n{q} Q0 {q} 2 1.0 w\n" for q, o in (("1", "2"), ("2", "3"), ("3", "1"))))
    result = _eval(collection, index_dir, "--compare", str(worse))
    assert result.exit_code == 0
    assert "| mode | baseline nDCG@10 | this run | difference | wins | losses | ties | p |" in result.output
    assert "| keyword | 0.6309 | 1.0000 | +0.3691 | 3 | 0 | 0 | 0.250 |" in result.output


def test_eval_names_a_missing_baseline_before_building(tmp_path, collection):
    result = _eval(collection, tmp_path / "never-built", "--compare", str(tmp_path / "nope.run"))
    assert result.exit_code == 1
    assert "nope.run: no such run file" in result.output
    assert not (tmp_path / "never-built").exists()
