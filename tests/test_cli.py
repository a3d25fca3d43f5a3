"""The command line, through typer's CliRunner, with the fake encoder registered by conftest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.storage.manifest import FORMAT_VERSION
from tests.conftest import FAKE_MODEL

runner = CliRunner()


def run(*args: str, env: dict | None = None):
    result = runner.invoke(app, list(args), env=env)
    print(result.output)  # shown when an assertion fails
    return result


@pytest.fixture
def cli_index(tmp_path: Path, corpus_dir: Path) -> Path:
    index_dir = tmp_path / "cli-index"
    result = run("index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL)
    assert result.exit_code == 0
    return index_dir


@pytest.mark.parametrize("command", [[], ["index"], ["search"], ["show"], ["stats"], ["eval"], ["watch"], ["serve"]])
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_index_prints_counts(tmp_path, corpus_dir):
    result = run("index", str(corpus_dir), "--index", str(tmp_path / "ix"), "--model", FAKE_MODEL)
    assert result.exit_code == 0
    assert "Indexed 4 articles" in result.output and "4 added" in result.output


def test_index_json_and_skipped_files(tmp_path, corpus_dir):
    (corpus_dir / "empty.txt").write_text("")
    result = run("index", str(corpus_dir), "--index", str(tmp_path / "ix"), "--model", FAKE_MODEL, "--json")
    assert result.exit_code == 3  # indexed, but a record was skipped
    assert f"accord: skipped {corpus_dir / 'empty.txt'}: no article text" in result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["articles"] == 4 and report["skipped"][0]["path"] == str(corpus_dir / "empty.txt")


def test_search_table_shows_title_date_source_and_snippet(cli_index):
    result = run("search", "Libya arms contracts", "--index", str(cli_index), "--k", "1", "--explain")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == " 1. Russia may resume military cooperation with Libya"
    assert "2012-08-22 · Xinhua · Russia, Libya · libya" in lines[1]
    assert lines[2].strip().startswith("keyword #1") and "semantic #1" in lines[2]
    assert "Libya" in lines[3]


def test_search_json_is_one_object_per_hit(cli_index):
    result = run("search", "military cooperation", "--index", str(cli_index), "--json", "--mode", "keyword")
    assert result.exit_code == 0
    hits = [json.loads(line) for line in result.stdout.splitlines()]
    assert {h["id"] for h in hits} == {"libya", "iran"}
    for hit in hits:
        assert {"id", "title", "date", "source", "score", "path", "keyword", "semantic", "snippet"} <= set(hit)
        assert hit["semantic"] is None and hit["keyword"]["rank"] >= 1


def test_index_location_from_environment(cli_index):
    result = run("stats", "--json", env={"ACCORD_INDEX": str(cli_index)})
    assert result.exit_code == 0
    stats = json.loads(result.stdout)
    assert (stats["articles"], stats["model"], stats["format_version"]) == (4, FAKE_MODEL, FORMAT_VERSION)


def test_show_prints_the_cleaned_article(cli_index):
    result = run("show", "exercise-1", "--index", str(cli_index))
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "Navies hold joint exercise"
    assert "India and France held a joint naval exercise" in result.output
    as_json = json.loads(run("show", "exercise-1", "--index", str(cli_index), "--json").stdout)
    assert as_json["source"] == "Reuters" and as_json["date"] == "2021-05-03"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "x", "--index", "{missing}"], "no index at"),
        (["search", '"open', "--strict", "--index", "{index}"], "unclosed quote"),
        (["search", "author:x", "--strict", "--index", "{index}"], "does not exist"),
        (["show", "nope", "--index", "{index}"], "no article with id 'nope'"),
        (["index", "{missing}", "--index", "{index}"], "no such file or folder"),
        (["index", "{corpus}", "--index", "{index}", "--model", "no/such-model"], "not available"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(tmp_path, corpus_dir, cli_index, args, message):
    values = {"missing": str(tmp_path / "missing"), "index": str(cli_index), "corpus": str(corpus_dir)}
    result = run(*(a.format(**values) for a in args))
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("accord: error: ")
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_option_values_are_rejected(cli_index):
    assert run("search", "x", "--index", str(cli_index), "--k", "0").exit_code == 2
    assert run("search", "x", "--index", str(cli_index), "--mode", "fuzzy").exit_code == 2


def test_index_check_exit_code_follows_consistency(cli_index):
    ok = run("index", "--check", "--index", str(cli_index))
    assert ok.exit_code == 0 and "consistent" in ok.output
    manifest = json.loads((cli_index / "manifest.json").read_text())
    manifest["articles"] = 99
    (cli_index / "manifest.json").write_text(json.dumps(manifest))
    bad = run("index", "--check", "--index", str(cli_index))
    assert bad.exit_code == 1 and "problem: manifest counts 99 articles" in bad.output
    assert "accord index --rebuild" in bad.output


def test_watch_rejects_a_missing_folder(tmp_path):
    result = run("watch", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"))
    assert result.exit_code == 1 and "not a folder" in result.output


@pytest.mark.parametrize("query", ['"open quote', "1) arms 2) deals (Libya", "AND", "arms AND", "author:x Libya arms"])
def test_a_malformed_query_is_read_as_plain_words_with_a_note(cli_index, query):
    table = run("search", query, "--index", str(cli_index), "--mode", "keyword")
    assert table.exit_code == 0, table.output
    as_json = run("search", query, "--index", str(cli_index), "--json")
    assert as_json.exit_code == 0, as_json.output
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    if query != "AND":  # a lone AND (all capitals) is the word "and": no note, nothing to find by keyword
        assert "note: read as plain words" in table.output
        assert lines[-1]["notes"][0].startswith("read as plain words")
