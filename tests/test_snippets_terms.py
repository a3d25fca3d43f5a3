"""Snippet term matching inlines the keyword index's analyzer; it must agree with whoosh's."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from search import snippets

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def _whoosh(text: str) -> list[tuple[int, int, str]]:
    return [(t.startchar, t.endchar, t.text) for t in snippets._analyzer(text, positions=False, chars=True)]


def test_the_seed_articles_tokenise_as_whoosh_does() -> None:
    files = sorted(SEEDS.glob("*"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert list(snippets._tokens(text)) == _whoosh(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAbcdeIiNnOoSsTty .,-'*_0123456789\u00e9\u0416\u4e2d\n")), max_size=80))
def test_any_text_tokenises_as_whoosh_does(text: str) -> None:
    assert list(snippets._tokens(text)) == _whoosh(text)
    assert snippets.terms(text) == {term for _s, _e, term in _whoosh(text)}


def test_matches_mark_the_words_whose_stems_are_query_terms() -> None:
    text = "Russia and Libya discussed military-technical cooperation and the navies' exercises."
    spans = snippets.matches(text, snippets.terms("cooperation with Libya's navy"))
    assert [text[s:e] for s, e in spans] == ["Libya", "cooperation", "navies"]


def _best_by_tokenising_all(passages: list[str], query_terms: set[str]) -> int:
    overlap = [len(snippets.terms(p) & query_terms) for p in passages]
    return max(range(len(passages)), key=lambda i: overlap[i])


WORDS = ["dying", "die", "dies", "arms", "armed", "army", "possibility", "possible", "sales", "sold", "sell",
         "Libya", "Libyan", "cooperation", "cooperate", "the", "of", "S-300", "missiles", "missile", "x", "ox"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join), min_size=1, max_size=6),
       st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join))
def test_best_passage_skips_only_passages_without_a_query_term(passages: list[str], query: str) -> None:
    query_terms = snippets.terms(query)
    assert snippets.best_passage(passages, query_terms) == _best_by_tokenising_all(passages, query_terms)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("aAbsSarm .,-*_.\u00e9\u0416\n")), max_size=40), min_size=1, max_size=5),
       st.text(alphabet=st.sampled_from(list("aAbsSarm .*")), min_size=1, max_size=12))
def test_best_passage_agrees_on_any_text(passages: list[str], query: str) -> None:
    # Dots that join words ("a.b" is one token), asterisks, case and non-Latin letters.
    query_terms = snippets.terms(query)
    assert snippets.best_passage(passages, query_terms) == _best_by_tokenising_all(passages, query_terms)


def _matches_by_tokenising_all(text: str, query_terms: set[str]) -> list[tuple[int, int]]:
    """Highlights as they were found before the token cache: every token analysed."""
    return [(start, end) for start, end, term in snippets._tokens(text) if term in query_terms]


TEXT = st.text(alphabet=st.sampled_from(list("aAbsSarmyYiedng .,-*_.\u00e9\u0130\u0416\n")), max_size=120)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_the_token_expression_matches_whooshs_default_one(text: str) -> None:
    import re

    whooshs = re.compile(r"[\w\*]+(\.?[\w\*]+)*")  # StemmingAnalyzer's default, as whoosh ships it
    assert [m.span() for m in snippets._WORD.finditer(text)] == [m.span() for m in whooshs.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(TEXT, st.one_of(TEXT, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)), st.booleans())
def test_highlights_are_the_tokens_whose_stems_are_query_terms(text: str, query: str, fresh: bool) -> None:
    if fresh:  # an empty cache, as in a new process
        snippets._known = snippets._Known()
    query_terms = snippets.terms(query)
    assert snippets.matches(text, query_terms) == _matches_by_tokenising_all(text, query_terms)
    assert snippets.best_passage([text, query, text], query_terms) == _best_by_tokenising_all([text, query, text], query_terms)


def test_highlights_survive_the_token_cache_starting_afresh(monkeypatch) -> None:
    monkeypatch.setattr(snippets, "KNOWN_WORDS", 6)  # starts afresh every few texts
    monkeypatch.setattr(snippets, "_known", snippets._Known())
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(SEEDS.glob("*"))]
    for query in ("military cooperation Libya", "arms sales dying armies", "Russia navy exercises"):
        query_terms = snippets.terms(query)
        for text in texts:
            assert snippets.matches(text, query_terms) == _matches_by_tokenising_all(text, query_terms)
            passages = [text[i : i + 300] for i in range(0, len(text), 250)]
            assert snippets.best_passage(passages, query_terms) == _best_by_tokenising_all(passages, query_terms)
            assert len(snippets._known.term_of) <= 6


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdeghilnorstuyY\u00e9\u0130\u0416'")), min_size=2, max_size=14))
def test_a_stem_starts_with_its_words_first_letter(word: str) -> None:
    # What lets the token cache skip a new word whose first letter no query term starts with.
    for token in snippets._WORD.findall(word):
        term = snippets._term(token)
        assert term is None or term[:1] == token.lower()[:1], token


def test_the_seed_articles_stems_start_with_their_words_first_letters() -> None:
    words = {w for path in SEEDS.glob("*") for w in snippets._WORD.findall(path.read_text(encoding="utf-8", errors="replace"))}
    assert len(words) > 500
    for special in ("skis", "skies", "dying", "lying", "tying", "idly", "gently", "ugly", "early", "only", "singly",
                    "Yelling", "yaying", "ies", "sses", "bing", "aed"):
        words.add(special)
    assert all((term := snippets._term(w)) is None or term[:1] == w.lower()[:1] for w in words)
