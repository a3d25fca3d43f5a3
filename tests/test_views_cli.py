"""The view commands through typer's CliRunner: timeline, pairs, watchlist, alerts."""

from __future__ import annotations

import csv
import io
import json
import shlex
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import FAKE_MODEL, interruptible, requires

runner = CliRunner()
IRAQ = (
    "Iraq, Russia Sign Military Cooperation Agreement\n"
    "BAGHDAD, October 20 (Sputnik) - Iraq and Russia signed an agreement on military cooperation.\n"
    "The defense ministries of both countries will hold talks on military cooperation.\n"
)


def run(*args: str):
    result = runner.invoke(app, list(args))
    print(result.output)  # shown when an assertion fails
    return result


@pytest.fixture
def cli_index(tmp_path: Path, corpus_dir: Path) -> Path:
    index_dir = tmp_path / "cli-index"
    assert run("index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL).exit_code == 0
    return index_dir


@pytest.mark.parametrize(
    "command", [["timeline"], ["pairs"], ["watchlist"], ["watchlist", "add"], ["watchlist", "list"], ["watchlist", "remove"], ["alerts"]]
)
def test_view_commands_have_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


@requires("plot")
def test_timeline_terminal_json_and_csv(cli_index, tmp_path):
    ix = ["--index", str(cli_index), "--min-cosine", "0.3"]
    table = run("timeline", "military cooperation", "--by", "year", *ix)
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].startswith("2 articles match 'military cooperation'") and "cosine similarity >= 0.30" in lines[0]
    assert lines[1].startswith("2012 1 █")
    assert "undated: 1 matching article without a publication date, counted apart (iran)" in table.output
    assert all(len(line) <= 80 for line in lines[1:-1])
    data = json.loads(run("timeline", "military cooperation", "--json", *ix).output)
    assert data["periods"] == [{"label": "2012-08", "count": 1, "ids": ["libya"]}] and data["undated"] == ["iran"]
    rows = list(csv.reader(io.StringIO(run("timeline", "military cooperation", "--format", "csv", *ix).output)))
    assert rows == [["period", "count"], ["2012-08", "1"], ["undated", "1"]]
    chart = tmp_path / "chart.svg"
    assert run("timeline", "military cooperation", "--plot", str(chart), *ix).exit_code == 0
    assert chart.read_text().startswith("<?xml")


def test_timeline_errors(cli_index, tmp_path):
    bad_by = run("timeline", "cooperation", "--by", "week", "--index", str(cli_index))
    assert bad_by.exit_code == 1 and "--by 'week' is not one of month, year" in bad_by.output
    bad_plot = run("timeline", "cooperation", "--plot", str(tmp_path / "c.gif"), "--index", str(cli_index))
    assert bad_plot.exit_code == 1 and ".png or .svg" in bad_plot.output
    bad_country = run("timeline", "cooperation", "--country", "Atlantis", "--index", str(cli_index))
    assert bad_country.exit_code == 1 and "Atlantis" in bad_country.output


def test_pairs_with_country_focus(cli_index):
    ix = ["--index", str(cli_index), "--min-cosine", "0.3"]
    result = run("pairs", "military cooperation", "--country", "Russia", *ix)
    assert result.exit_code == 0
    assert "Russia – Libya: 1 article · 2012-08-22\n" in result.output
    assert "Russia – Iran: 1 article · undated\n" in result.output
    assert "e.g. Russia may resume military cooperation with Libya (libya)" in result.output
    data = json.loads(run("pairs", "military cooperation", "--json", *ix).output)
    searched = run("search", "military cooperation", "--json", "--index", str(cli_index)).output.splitlines()
    ranked = [row["id"] for row in map(json.loads, searched) if "id" in row]
    examples = [i for i in ranked if i in {"libya", "iran"}]  # best rank first: the search's order
    assert [p["example"]["id"] for p in data["pairs"]] == examples and len(examples) == 2
    assert {tuple(p["countries"]) for p in data["pairs"]} == {("Libya", "Russia"), ("Iran", "Russia")}


def test_watchlist_and_alerts(cli_index, corpus_dir, tmp_path):
    ix = ["--index", str(cli_index)]
    received = tmp_path / "got.json"
    hook = shlex.join([sys.executable, "-c", f"import sys; open({str(received)!r}, 'w').write(sys.stdin.read())"])
    added = run("watchlist", "add", "coop", "Russia Iraq military cooperation agreement", "--exec", hook, *ix)
    assert added.exit_code == 0 and "saved 'coop'" in added.output
    assert run("watchlist", "add", "wheat", "wheat harvest", "--country", "United States", *ix).exit_code == 0
    listed = run("watchlist", "list", *ix).output
    assert "coop: 'Russia Iraq military cooperation agreement'" in listed and "wheat: 'wheat harvest' · country United States" in listed
    assert run("alerts", *ix).output.count("0 new matches since the last check") == 2
    (corpus_dir / "iraq.txt").write_text(IRAQ)
    assert run("index", *ix).exit_code == 0
    out = run("alerts", "--json", *ix).output
    alerts = {a["name"]: a for a in map(json.loads, out.splitlines())}
    assert [m["id"] for m in alerts["coop"]["matches"]] == ["iraq"] and alerts["wheat"]["matches"] == []
    assert [m["id"] for m in json.loads(received.read_text())["matches"]] == ["iraq"]
    assert "coop: 0 new matches" in run("alerts", "coop", *ix).output
    since = run("alerts", "coop", "--since", "2000-01", *ix).output
    assert "1 new match entered since 2000-01-01" in since and "Iraq, Russia Sign" in since
    assert run("watchlist", "remove", "wheat", *ix).exit_code == 0
    assert "wheat" not in run("watchlist", "list", *ix).output


def test_watchlist_and_alerts_errors(cli_index):
    ix = ["--index", str(cli_index)]
    unknown = run("alerts", "nope", *ix)
    assert unknown.exit_code == 1 and "no saved search named 'nope'" in unknown.output
    assert run("watchlist", "remove", "nope", *ix).exit_code == 1
    bad_since = run("alerts", "--since", "soon", *ix)
    assert bad_since.exit_code == 1 and "--since 'soon'" in bad_since.output
    assert "No saved searches" in run("watchlist", "list", *ix).output


def test_watch_logs_saved_searches_that_gained_matches(cli_index, corpus_dir):
    """`accord watch` in its own process (the fake model registered by importing conftest)."""
    import os
    import signal
    import subprocess
    import time

    ix = ["--index", str(cli_index)]
    assert run("watchlist", "add", "coop", "Russia Iraq military cooperation agreement", *ix).exit_code == 0
    assert run("watchlist", "add", "wheat", "wheat harvest", *ix).exit_code == 0
    repo = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", "import tests.conftest, cli; cli.main()", "watch", str(corpus_dir), *ix, "--debounce-ms", "100"]
    watcher = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONPATH": str(repo)}, preexec_fn=interruptible)
    import threading

    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 90
        while time.time() < deadline and not any("watchlist" in line for line in lines):
            if len(lines) >= 2:  # watching has begun; (re)write the file until an event is seen
                (corpus_dir / "iraq.txt").write_text(IRAQ)
            time.sleep(3)
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(timeout=30)
        reader.join(timeout=10)
    print("".join(lines))
    logged = [line for line in lines if "watchlist" in line]
    assert len(logged) == 1 and "watchlist 'coop': 1 new match ('accord alerts coop' lists them)" in logged[0]
    assert "coop: 1 new match since the last check" in run("alerts", "coop", *ix).output
