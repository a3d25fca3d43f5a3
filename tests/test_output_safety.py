"""Output safety: escape sequences and controls never reach the terminal, formulas never reach a
spreadsheet, and JSON stays equal to what is stored."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cli import app
from search.output_safety import csv_cell, json_line, terminal_name, terminal_text
from tests.conftest import FAKE_MODEL

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What typer.style writes for bold and yellow: the only escapes Accord's own output may hold.
OWN_STYLES = re.compile(r"\x1b\[(?:1|33|0)m")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Title\x1b[2J\x1b[H here", "Title here"),  # clear screen, cursor home
        ("a\x1b]0;pwned\x07b", "ab"),  # window title, ended by BEL
        ("a\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # hyperlink, ended by ST
        ("a\x9b31mred\x9b0m", "ared"),  # 8-bit CSI
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS (sixel)
        ("a\x1bcb", "ab"),  # full reset
        ("bell\x07 and NUL\x00 and DEL\x7f", "bell and NUL and DEL"),
        ("cut short \x1b]0;title", "cut short "),
        ("evil\u202edoc.exe", "evildoc.exe"),
        ("line one\r\nline\ttwo\roverwrite", "line one\nline\ttwo\noverwrite"),
        ("Café — “quoted” 日本", "Café — “quoted” 日本"),
    ],
)
def test_terminal_text_removes_sequences_and_controls(raw, shown):
    assert terminal_text(raw) == shown


def test_terminal_name_shows_every_control_visibly():
    assert terminal_name("id\x1b]0;x\x07\n\u202e\ud800") == "id\\x1b]0;x\\x07\\x0a\\u202e\\ud800"
    assert terminal_name("business/001") == "business/001"


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil","click")', '\'=HYPERLINK("http://evil","click")'),
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\n=1"),
        ("plain = text", "plain = text"),
        ("\x1b[2J=1", "'=1"),  # the trigger hidden behind an escape sequence is still caught
        (None, ""),
    ],
)
def test_csv_cells_that_start_a_formula_are_neutralised(value, cell):
    assert csv_cell(value) == cell


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_no_text_gets_through_unsafe(text):
    assert not UNSAFE.search(terminal_text(text))
    assert not UNSAFE.search(terminal_name(text)) and "\n" not in terminal_name(text)
    assert not csv_cell(text).startswith(("=", "+", "-", "@", "\t", "\r"))
    line = json_line({"t": text})
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", line)
    if not re.search("[\ud800-\udfff]", text):
        assert json.loads(line) == {"t": text}


runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args), color=True)  # keep escapes: as a terminal would get them
    print(result.output)
    return result


@pytest.fixture
def hostile_index(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # A file name is a valid id even with escape sequences in it: kept verbatim in the index.
    (corpus / "\x1b]0;pwned\x07evil.txt").write_text(
        "Missile deal\nThe missile deal was signed in Moscow on Monday, officials said.\n"
    )
    record = {"id": "csv", "title": '=HYPERLINK("http://evil","click")', "source": "@SUM(A1)",
              "body": "-2+3 missile systems were sold, the ministry said."}
    (corpus / "a.jsonl").write_text(json.dumps(record) + "\n")
    index_dir = tmp_path / "ix"
    assert run("index", str(corpus), "--index", str(index_dir), "--model", FAKE_MODEL).exit_code == 0
    return index_dir


def test_search_table_and_show_never_print_escape_sequences(hostile_index):
    result = run("search", "missile", "--index", str(hostile_index), "--mode", "keyword")
    assert result.exit_code == 0
    assert "\\x1b]0;pwned\\x07evil" in result.output
    assert not UNSAFE.search(OWN_STYLES.sub("", result.output))
    shown = run("show", "\x1b]0;pwned\x07evil", "--index", str(hostile_index))
    assert shown.exit_code == 0 and "The missile deal was signed" in shown.output
    assert not UNSAFE.search(shown.output)
    assert "\\x1b]0;pwned\\x07evil.txt" in shown.output


def test_search_csv_neutralises_formulas(hostile_index):
    result = run("search", "missile", "--index", str(hostile_index), "--mode", "keyword", "--format", "csv")
    assert result.exit_code == 0
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(result.stdout))}
    assert rows["csv"]["title"] == '\'=HYPERLINK("http://evil","click")'
    assert rows["csv"]["source"] == "'@SUM(A1)"
    assert rows["csv"]["snippet"].startswith("'-2+3")
    assert float(rows["csv"]["score"]) > 0  # numbers stay numbers
    assert not UNSAFE.search(result.stdout.replace("\r\n", "").replace("\n", ""))


def test_json_output_is_the_stored_text_escaped(hostile_index):
    result = run("search", "missile", "--index", str(hostile_index), "--mode", "keyword", "--json")
    hits = {h["id"]: h for h in map(json.loads, result.stdout.splitlines())}
    assert set(hits) == {"csv", "\x1b]0;pwned\x07evil"}
    assert hits["csv"]["title"] == '=HYPERLINK("http://evil","click")'  # JSON keeps the data exact
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout


@pytest.mark.skipif(os.name != "posix", reason="file names with control characters")
def test_stats_prints_sources_safely(hostile_index):
    result = run("stats", "--index", str(hostile_index))
    assert result.exit_code == 0 and not UNSAFE.search(result.output)
