"""One parsed query per search: the keyword tree, what is embedded, what is highlighted, and how
a query that is not well formed is read."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.errors import QuerySyntaxError
from search.query import parse_query, plain_words, syntax_problem


def test_a_well_formed_query_keeps_its_syntax() -> None:
    parsed = parse_query('"arms deal" Libya AND NOT Egypt')
    assert parsed.notes == () and parsed.constraint is parsed.keyword
    assert parsed.embed_text == "arms deal Libya"
    assert parsed.highlight == {"arm", "deal", "libya"}


def test_a_plain_or_query_only_ranks() -> None:
    parsed = parse_query("military cooperation Libya")
    assert parsed.constraint is None and not parsed.excludes_only
    assert parsed.embed_text == "military cooperation Libya"


def test_excluded_words_are_neither_embedded_nor_highlighted() -> None:
    parsed = parse_query("grain AND NOT kansas")
    assert "kansa" not in parsed.highlight and "grain" in parsed.highlight
    assert parsed.embed_text == "grain"


def test_a_question_mark_is_punctuation_not_a_wildcard() -> None:
    parsed = parse_query("What is information science?")
    assert "scienc" in parsed.highlight and not parsed.notes
    assert "?" not in repr(parsed.keyword)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ('"open phrase', "has an unclosed quote"),
        ("1) arms 2) deals", "has unbalanced brackets"),
        ("(unbalanced", "has unbalanced brackets"),
        ("author:smith arms", "names a field 'author'"),
        ("arms AND", "starts or ends with an operator"),
        ("OR arms", "starts or ends with an operator"),
        ("arms AND OR navy", "has two operators in a row"),
    ],
)
def test_malformed_queries_are_read_as_plain_words_unless_strict(query: str, problem: str) -> None:
    parsed = parse_query(query)
    assert parsed.notes[0].startswith(f"read as plain words: the query {problem}")
    assert parsed.embed_text == plain_words(query) and parsed.embed_text
    with pytest.raises(QuerySyntaxError, match=problem.split("'")[0]):
        parse_query(query, strict=True)


def test_an_all_capitals_query_is_words_not_operators() -> None:
    parsed = parse_query("SYRIA AND IRAQ")
    assert parsed.constraint is None and parsed.highlight == {"syria", "iraq"}


def test_a_query_that_only_excludes_is_flagged() -> None:
    parsed = parse_query("NOT oil")
    assert parsed.excludes_only and parsed.embed_text == ""
    assert parsed.notes == ("the query only excludes words; add words to search for",)


def test_a_pasted_paragraph_is_a_query() -> None:
    text = ("Reports say (according to officials: Tass) that Moscow and Tripoli discussed "
            "arms deliveries; the deal — worth $2bn? — includes 1) tanks 2) jets and \"spares")
    parsed = parse_query(text)
    assert parsed.notes and parsed.highlight >= {"moscow", "tripoli", "tank"}


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_no_text_makes_a_lenient_parse_fail(text: str) -> None:
    parsed = parse_query(text)
    assert isinstance(parsed.embed_text, str)
    if syntax_problem(text) is None:
        assert not parsed.notes or parsed.excludes_only


@pytest.mark.parametrize("query", ["oil NOT price", "oil AND NOT price", "military oil navies AND NOT price"])
def test_not_excludes_from_the_whole_query(query: str) -> None:
    from whoosh import query as whoosh_query

    parsed = parse_query(query)
    assert isinstance(parsed.keyword, whoosh_query.AndNot) and parsed.constraint is parsed.keyword
    assert "price" in repr(parsed.keyword.b) and "price" not in repr(parsed.keyword.a)
