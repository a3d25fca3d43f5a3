"""Any text is a query: one nested past whoosh's recursion, one too long for its tagger, one of
operators whoosh's parser fails on or takes exponential time over. Each is read (as plain words
where it must be, with a note) and searched; none is an internal error."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from index.errors import QuerySyntaxError
from search.engine import Engine
from search.query import MAX_QUERY_CHARS, MAX_QUERY_DEPTH, MAX_QUERY_OPERATORS, parse_query
from tests.conftest import FAKE_MODEL, HashingEncoder

DEEP = "(" * 500 + "libya" + ")" * 500
DEEP_NOTE = f"read as plain words: the query nests brackets 500 deep (at most {MAX_QUERY_DEPTH} are read as syntax)"


def test_a_query_500_brackets_deep_is_read_as_plain_words_with_a_note() -> None:
    parsed = parse_query(DEEP)
    assert parsed.notes == (DEEP_NOTE,)
    assert parsed.embed_text == "libya" and parsed.highlight == {"libya"}
    with pytest.raises(QuerySyntaxError, match="nests brackets 500 deep"):
        parse_query(DEEP, strict=True)


def test_brackets_up_to_the_bound_keep_their_syntax() -> None:
    depth = MAX_QUERY_DEPTH
    parsed = parse_query("(" * depth + "arms AND NOT egypt" + ")" * depth)
    assert parsed.notes == () and parsed.constraint is not None


def test_a_500_deep_query_searches_through_the_engine(built_index: Path, encoder: HashingEncoder) -> None:
    with Engine.open(built_index, encoder=encoder) as engine:
        result = engine.search(DEEP, k=3)
    assert result.notes == (DEEP_NOTE,)
    assert result.hits[0].title == "Russia may resume military cooperation with Libya"


def test_a_500_deep_query_searches_through_the_cli(tmp_path: Path, corpus_dir: Path) -> None:
    from cli import app

    runner = CliRunner()
    index_dir = tmp_path / "cli-index"
    built = runner.invoke(app, ["index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL])
    assert built.exit_code == 0, built.output
    result = runner.invoke(app, ["search", DEEP, "--index", str(index_dir), "--k", "1"])
    print(result.output)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"note: {DEEP_NOTE}"
    assert lines[1] == " 1. Russia may resume military cooperation with Libya"


def test_a_long_query_is_searched_by_its_start_with_a_note() -> None:
    text = "libya " * 1000 + "kansas " * 1000  # 13,000 characters
    parsed = parse_query(text)
    assert parsed.notes == (
        f"read as plain words: the query is 13,000 characters long; only its first {MAX_QUERY_CHARS:,} were searched",
    )
    assert parsed.highlight == {"libya"} and len(parsed.embed_text) < MAX_QUERY_CHARS
    with pytest.raises(QuerySyntaxError, match="is 13,000 characters long"):
        parse_query(text, strict=True)


def test_more_operators_than_the_bound_are_read_as_plain_words() -> None:
    text = " AND ".join(f"word{i}" for i in range(MAX_QUERY_OPERATORS + 2))
    parsed = parse_query(text)
    assert parsed.notes == (
        f"read as plain words: the query has {MAX_QUERY_OPERATORS + 1} operators (at most {MAX_QUERY_OPERATORS} are read as syntax)",
    )
    assert parsed.constraint is None


@pytest.mark.parametrize("text", ["NOT NOT libya", "libya AND NOT NOT egypt", "(NOT NOT libya)", "arms ANDNOT ? ANDNOT navy"])
def test_operators_whoosh_fails_on_are_plain_words(text: str) -> None:
    parsed = parse_query(text)
    assert parsed.notes == ("read as plain words: the query has two operators in a row",)
    assert parse_query("NOT (NOT libya)").notes == ()  # a double negation in brackets is syntax


def test_a_query_whoosh_fails_on_is_read_as_plain_words() -> None:
    # Looks well formed (a quoted phrase), but whoosh does not read a phrase that opens on a
    # space and a line break, and then fails on the doubled NOT inside it.
    text = 'arms " \nNOT NOT " navy'
    parsed = parse_query(text)
    assert parsed.notes == ("read as plain words: the query cannot be read as syntax",)
    assert parsed.embed_text == "arms navy"
    with pytest.raises(QuerySyntaxError, match="cannot be read as syntax"):
        parse_query(text, strict=True)


def test_chains_and_huge_words_parse_in_a_bounded_number_of_steps() -> None:
    """whoosh built each side of ANDMAYBE/ANDNOT/REQUIRE twice (2**40 steps for this chain) and
    tags a word in time quadratic in its length (hours for a million characters). Run in a
    child process, so a regression fails at the time-out instead of hanging the suite."""
    script = textwrap.dedent("""
        from search.query import parse_query
        for op in ("ANDMAYBE", "ANDNOT", "REQUIRE"):
            parsed = parse_query(f" {op} ".join(f"w{i}" for i in range(40)))
            assert parsed.notes == (), parsed.notes
        assert parse_query("x" * 1_000_000).notes
        print("parsed")
    """)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "parsed", done.stderr


# Words, operators, brackets, quotes, fields and the characters whoosh gives a meaning.
TOKENS = st.sampled_from([
    "libya", "arms", "NOT", "AND", "OR", "ANDNOT", "ANDMAYBE", "REQUIRE", "(", ")", '"', "title:", "body:",
    "*", "?", "^2", "~", "[", "]", "{", "}", "TO", ":", "-", "+", "'", "\\", "\n", "\t", "\x85", "\u3000",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=40), st.sampled_from([" ", "", "\t"]))
def test_no_mix_of_operators_and_brackets_is_an_error(tokens: list[str], joiner: str) -> None:
    parsed = parse_query(joiner.join(tokens))
    assert isinstance(parsed.embed_text, str)
