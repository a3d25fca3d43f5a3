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
