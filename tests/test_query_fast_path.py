"""Plain-word queries skip whoosh's parser (search/query.py, `_plain_tree`): the tree they get is
the parser's own, node for node (class, field, term, boost and character offsets), for random
plain queries under every analysis, and `parse_query` reads every query of the tests alike with
the shortcut and without it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh import query as whoosh_query

import search.query as query_module
from index.storage.manifest import STEMMERS, STOP_LISTS, BuildSettings
from search.query import parse_query

# Words as analysts and the test collections type them: ASCII and accented letters, digits, the
# punctuation inside words (hyphens, dots, apostrophes, slashes), stop words, one-letter words,
# ligatures and characters whose lower case is longer; words that look like operators in lower
# or mixed case, which are plain words, and the operators themselves (which the shortcut must
# leave to the parser); and odd whitespace between them.
WORD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789éüßİﬁøÇ-.,;!/#@&'+=<>%$_"
WORDS = st.one_of(
    st.text(alphabet=WORD_CHARS, min_size=1, max_size=12),
    st.sampled_from(["the", "of", "and", "a", "what", "are", "navies", "cooperating", "U.S.", "jong-un",
                     "d'Ivoire", "and/or", "e.g.", "1990s", "3.5", "or", "not", "And", "Nota", "ANDROID",
                     "AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "REQUIRE", "'n'", "'til", "rock'n'roll", "'arms", "deal'"]),
)
SPACES = st.sampled_from([" ", "  ", "\t", "\n", "\u00a0", "\u2003", " \r\n "])
PLAIN = st.lists(st.tuples(SPACES, WORDS), min_size=1, max_size=12).map(lambda pairs: "".join(s + w for s, w in pairs))
ANALYSES = [BuildSettings(stemmer=s, stop_words=w) for s in STEMMERS for w in STOP_LISTS]

# The queries the other tests parse (tests/test_query*.py, tests/test_keyword_analysis.py,
# tests/test_feedback.py, tests/test_postgres_*.py, ...), syntax and all.
TEST_QUERIES = [
    '"arms deal" Libya AND NOT Egypt', "military cooperation Libya", "grain AND NOT kansas",
    "What is information science?", "SYRIA AND IRAQ", "NOT oil", "titles of libraries titles", "libya",
    "arms sales", "titles retrieval titles titles", "retrieval retrieval retrieval titles", "navies", "navy",
    "aircraft report", "aircraft hovercraft", "aircraft hovercraft aircraft", "arms navy", "al*", "tab",
    "arms deal navy", "zanzibar frigate deal", "arms navy libya", "pantsir missile treaty", "missiles",
    "What problems are there which generously cooperating states have?", "title:libya", 'oil "price',
    "1) arms 2) navies", "military cooperation navies AND NOT iran", "oil NOT price", "(arms OR navy) AND libya",
    "Kim Jong-un's visit to the U.S.", "Côte d'Ivoire", "harvests in Kansas", "e.g. 3.5% of GDP",
]


def shape(tree: whoosh_query.Query) -> tuple:
    """Everything that tells two trees apart: whoosh's own equality calls empty clauses unequal."""
    children = tuple(shape(child) for child in tree.subqueries) if isinstance(tree, whoosh_query.compound.CompoundQuery) else ()
    return (type(tree), getattr(tree, "fieldname", None), getattr(tree, "text", None), tree.boost,
            getattr(tree, "startchar", None), getattr(tree, "endchar", None), children)


def shortcut_and_parser(analysis: BuildSettings, text: str) -> tuple[tuple | None, tuple | None]:
    """The shapes of the shortcut's tree and the parser's (both None when the shortcut declines:
    the parser may refuse some operator sequences, and reads them itself)."""
    key = (analysis.stemmer, analysis.stop_words)
    fast = query_module._plain_tree(key, text)
    if fast is None:
        return None, None
    return shape(fast), shape(query_module._parser(*key).parse(text, normalize=False))


@settings(max_examples=400, deadline=None)
@given(text=PLAIN, analysis=st.sampled_from(ANALYSES))
def test_the_shortcut_builds_the_parsers_tree_for_plain_words(text, analysis):
    fast, full = shortcut_and_parser(analysis, text)
    assert fast == full


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzé-", min_size=1, max_size=10), min_size=1, max_size=10))
def test_plain_lower_case_words_take_the_shortcut(words):
    fast, full = shortcut_and_parser(BuildSettings(), " ".join(words))
    assert fast is not None and fast == full


def assert_read_alike(text: str, analysis: BuildSettings, monkeypatch) -> None:
    """parse_query reads `text` alike with the shortcuts (the parser's tree, and the normalised
    query built directly) and with neither."""
    fast = parse_query(text, settings=analysis)
    with monkeypatch.context() as patched:
        patched.setattr(query_module, "_plain_tree", lambda analysis, reading: None)
        patched.setattr(query_module, "_plain_query", lambda analysis, reading: None)
        full = parse_query(text, settings=analysis)
    assert shape(fast.keyword) == shape(full.keyword)
    assert (fast.constraint is None) == (full.constraint is None)
    assert (fast.excludes_only, fast.embed_text, fast.highlight, fast.notes) == (
        full.excludes_only, full.embed_text, full.highlight, full.notes)


@pytest.mark.parametrize("text", TEST_QUERIES)
@pytest.mark.parametrize("analysis", [BuildSettings(), BuildSettings(stemmer="none", stop_words="none")])
def test_parse_query_reads_the_tests_queries_alike_with_and_without_the_shortcut(text, analysis, monkeypatch):
    assert_read_alike(text, analysis, monkeypatch)


@settings(max_examples=400, deadline=None)
@given(text=PLAIN, analysis=st.sampled_from(ANALYSES))
def test_parse_query_reads_plain_words_alike_with_and_without_the_shortcuts(text, analysis):
    # Repeated words (counted), words of several tokens, stop words alone, one word: the whole
    # reading of the query, its normalised tree node for node, offsets included.
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_read_alike(text, analysis, monkeypatch)


@pytest.mark.parametrize("text", ["the of and", "oil", "oil oil", "military-technical military", "Côte d'Ivoire's"])
def test_the_normalised_query_of_plain_words_is_built_without_the_parser(text):
    default = ("snowball", "english")
    built = query_module._plain_query(default, text)
    assert built is not None
    assert shape(built) == shape(query_module.count_repeated_terms(query_module._plain_tree(default, text)).normalize())


def test_queries_with_syntax_are_left_to_the_parser():
    default = ("snowball", "english")
    for text in ['"arms deal"', "title:libya", "arms AND navy", "NOT oil", "al*", "what?", "(arms)",
                 "arms^2", "[a TO b]", "'quoted' words", "x ~2", "a OR b"]:
        assert query_module._plain_tree(default, text) is None, text
    assert query_module._plain_tree(default, "Côte d'Ivoire's navy") is not None


@settings(max_examples=400, deadline=None)
@given(text=st.one_of(PLAIN, st.text(max_size=40), st.text(alphabet='ab "():?*ANDOTR', max_size=20)))
def test_text_without_syntax_characters_has_no_syntax_problem(text):
    # parse_query skips syntax_problem for such text: every problem it finds needs one of them.
    if not query_module._may_hold_syntax(text):
        assert query_module.syntax_problem(text) is None
