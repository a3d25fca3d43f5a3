"""Evaluation: file formats, metric values from ir-measures, and `accord eval` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.errors import InvalidArgument, SourceNotFound
from index.pipeline.builder import build
from search.engine import Engine
from search.evaluation import evaluate, failed_queries, read_qrels, read_queries, score_run, write_trec_run
from tests.conftest import requires

pytestmark = requires("eval")

DOCS = [
    {"docno": "1", "text": "THE ARMY OF SOMALIA GOT RIFLES FROM RUSSIA ."},
    {"docno": "2", "text": "WHEAT PRICES FELL IN KANSAS AFTER THE HARVEST ."},
    {"docno": "3", "text": "FRANCE AND INDIA HELD A NAVAL EXERCISE ."},
]


@pytest.fixture
def collection(tmp_path: Path) -> dict[str, Path]:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
    queries = tmp_path / "queries.tsv"
    queries.write_text("1\tRIFLES FOR SOMALIA .\n2\tWHEAT HARVEST\n9\tUNJUDGED QUERY\n")
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("1 0 1 1\n2 0 2 1\n")
    return {"docs": docs, "queries": queries, "qrels": qrels}


def test_read_formats(collection):
    assert read_queries(collection["queries"])["1"] == "RIFLES FOR SOMALIA ."
    assert read_qrels(collection["qrels"]) == {"1": {"1": 1}, "2": {"2": 1}}


def test_score_run_matches_hand_computed_values():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    run = {"q1": [("x", 9.0), ("a", 1.0)]}  # q2 returned nothing: it still counts, as 0
    scores = score_run(qrels, run)
    assert scores["MRR@10"] == pytest.approx(0.5 / 2)
    assert scores["nDCG@10"] == pytest.approx((1 / 1.5849625) / 2, rel=1e-5)
    assert scores["R@100"] == pytest.approx(0.5)


def test_score_run_keeps_our_order_even_with_equal_scores():
    qrels = {"q": {"b": 1}}
    assert score_run(qrels, {"q": [("b", 0.5), ("a", 0.5)]})["MRR@10"] == 1.0


def test_bad_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.trec"
    bad.write_text("1 0 doc\n")
    with pytest.raises(InvalidArgument, match="bad.trec:1"):
        read_qrels(bad)
    with pytest.raises(SourceNotFound, match="no such queries file"):
        read_queries(tmp_path / "missing.tsv")
    one_column = tmp_path / "q.tsv"
    one_column.write_text("just text\n")
    with pytest.raises(InvalidArgument, match="q.tsv:1"):
        read_queries(one_column)


def test_evaluate_scores_every_mode_on_judged_queries(tmp_path, collection, encoder):
    build([collection["docs"]], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        scores, runs = evaluate(engine, read_queries(collection["queries"]), read_qrels(collection["qrels"]))
    assert [s.mode for s in scores] == ["hybrid", "keyword", "semantic"]
    keyword = next(s for s in scores if s.mode == "keyword")
    assert keyword.queries == 2 and keyword.metrics["MRR@10"] == 1.0
    assert set(runs["keyword"]) == {"1", "2"}
    write_trec_run(tmp_path / "k.run", runs["keyword"], "t")
    assert (tmp_path / "k.run").read_text().splitlines()[0].startswith("1 Q0 1 1 ")


def test_eval_command_prints_table_and_writes_runs(tmp_path, collection, encoder):
    index_dir = tmp_path / "ix"
    build([collection["docs"]], index_dir, encoder=encoder)  # the command reuses the index's model
    args = ["eval", "--docs", str(collection["docs"]), "--queries", str(collection["queries"]),
            "--qrels", str(collection["qrels"]), "--index", str(index_dir)]
    result = CliRunner().invoke(app, [*args, "--run-out", str(tmp_path / "runs")])
    print(result.output)
    assert result.exit_code == 0
    assert "| keyword | 1.0000 | 1.0000 | 1.0000 | 1.0000 |" in result.output
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [
        "accord-hybrid.run", "accord-keyword.run", "accord-semantic.run"]
    as_json = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert {row["mode"] for row in as_json} == {"hybrid", "keyword", "semantic"}


def test_eval_command_scores_another_fusion(tmp_path, collection, encoder):
    index_dir = tmp_path / "ix"
    build([collection["docs"]], index_dir, encoder=encoder)
    args = ["eval", "--docs", str(collection["docs"]), "--queries", str(collection["queries"]),
            "--qrels", str(collection["qrels"]), "--index", str(index_dir), "--json"]
    rows = json.loads(CliRunner().invoke(app, [*args, "--fusion", "convex", "--weight", "1.0"]).stdout)
    by_mode = {row["mode"]: row["metrics"] for row in rows}
    assert by_mode["hybrid"] == by_mode["keyword"]  # all weight on the keyword leg
    bad = CliRunner().invoke(app, [*args, "--weight", "2"])
    assert bad.exit_code == 2


def test_eval_command_scores_either_scale_of_the_convex_fusion(tmp_path, encoder):
    # Every article has the query's word, so each leg's last candidate scores above 0: min-max
    # gives it 0 from that leg, dividing by the best does not.
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "body": f"{'rifles ' * i}were sold to the army of country {i}."}) + "\n"
                            for i in range(1, 5)))
    queries, qrels = tmp_path / "q.tsv", tmp_path / "qrels.trec"
    queries.write_text("1\trifles for the army\n")
    qrels.write_text("1 0 4 1\n")
    index_dir = tmp_path / "ix"
    build([docs], index_dir, encoder=encoder)
    args = ["eval", "--docs", str(docs), "--queries", str(queries), "--qrels", str(qrels), "--index", str(index_dir)]
    scored = {}
    for scale in ("max", "min-max"):
        assert CliRunner().invoke(app, [*args, "--scale", scale, "--run-out", str(tmp_path / scale)]).exit_code == 0
        scored[scale] = {line.split()[2]: float(line.split()[4])
                         for line in (tmp_path / scale / "accord-hybrid.run").read_text().splitlines()}
    assert scored["max"].keys() == scored["min-max"].keys() == {"1", "2", "3", "4"}
    assert min(scored["max"].values()) > 0.0 and scored["max"] != scored["min-max"]
    bad = CliRunner().invoke(app, [*args, "--scale", "z-score"])
    assert bad.exit_code == 2 and "--scale" in bad.output


def test_a_query_that_cannot_run_scores_zero_and_is_listed(tmp_path, collection, encoder):
    queries = tmp_path / "with-empty.tsv"
    queries.write_text("1\tRIFLES FOR SOMALIA .\n2\t\n")  # query 2 has no text: the engine refuses it
    build([collection["docs"]], tmp_path / "ix", encoder=encoder)
    with Engine.open(tmp_path / "ix", encoder=encoder) as engine:
        scores, runs = evaluate(engine, read_queries(queries), read_qrels(collection["qrels"]))
    for mode_scores in scores:
        assert [(f.qid, "empty" in f.reason) for f in mode_scores.failed] == [("2", True)]
        assert mode_scores.queries == 2 and mode_scores.metrics["MRR@10"] == pytest.approx(0.5)
    assert failed_queries(scores)["2"].query == ""
    assert set(runs["keyword"]) == {"1"}


def test_eval_command_lists_failed_queries_and_fails_only_when_asked(tmp_path, collection, encoder):
    queries = tmp_path / "with-empty.tsv"
    queries.write_text("1\tRIFLES FOR SOMALIA .\n2\t\n")
    index_dir = tmp_path / "ix"
    build([collection["docs"]], index_dir, encoder=encoder)
    args = ["eval", "--docs", str(collection["docs"]), "--queries", str(queries),
            "--qrels", str(collection["qrels"]), "--index", str(index_dir)]
    result = CliRunner().invoke(app, args)
    print(result.output)
    assert result.exit_code == 0
    assert "| keyword | 0.5000 |" in result.output
    assert "1 of 2 queries could not be run (each scored 0):" in result.output
    assert "  2: the query is empty" in result.output
    rows = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert rows[0]["failed"][0]["qid"] == "2"
    strict = CliRunner().invoke(app, [*args, "--fail-on-error"])
    assert strict.exit_code == 1 and "--fail-on-error" in strict.output
    clean = CliRunner().invoke(app, [*args[:4], str(collection["queries"]), *args[5:], "--fail-on-error"])
    assert clean.exit_code == 0
