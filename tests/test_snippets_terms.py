"""Snippet term matching inlines the keyword index's analyzer; it must agree with whoosh's, for
every stemmer and stop list an index may be built with."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from index.storage.keyword import keyword_analyzer
from index.storage.manifest import STEMMERS, STOP_LISTS, BuildSettings
from search import snippets

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
ANALYSES = [(stemmer, stop_words) for stemmer in STEMMERS for stop_words in STOP_LISTS]
DEFAULT = snippets.analysis_of()


@cache
def _analyzer(stemmer: str, stop_words: str):
    return keyword_analyzer(stemmer, stop_words)


def _whoosh(text: str, stemmer: str = "snowball", stop_words: str = "english") -> list[tuple[int, int, str]]:
    return [(t.startchar, t.endchar, t.text) for t in _analyzer(stemmer, stop_words)(text, positions=False, chars=True)]


@pytest.mark.parametrize(("stemmer", "stop_words"), ANALYSES)
def test_the_seed_articles_tokenise_as_whoosh_does(stemmer: str, stop_words: str) -> None:
    files = sorted(SEEDS.glob("*"))
    assert files
    analysis = snippets.analysis_of(BuildSettings(stemmer=stemmer, stop_words=stop_words))
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert list(analysis.tokens(text)) == _whoosh(text, stemmer, stop_words)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAbcdeIiNnOoSsTty .,-'*_0123456789\u00e9\u0416\u4e2d\n")), max_size=80),
       st.sampled_from(ANALYSES))
def test_any_text_tokenises_as_whoosh_does(text: str, analysed: tuple[str, str]) -> None:
    analysis = snippets.analysis_of(BuildSettings(stemmer=analysed[0], stop_words=analysed[1]))
    assert list(analysis.tokens(text)) == _whoosh(text, *analysed)
    assert analysis.terms(text) == {term for _s, _e, term in _whoosh(text, *analysed)}


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


PASSAGE_TEXT = st.text(alphabet=st.sampled_from(list("aAbsSarmyied .,-*_.'\u00e9\u0130\u0416\u03a3\n")), max_size=120)


@settings(max_examples=400, deadline=None)
@given(PASSAGE_TEXT, st.lists(st.tuples(st.integers(0, 120), st.integers(0, 120)), min_size=1, max_size=6),
       st.text(alphabet=st.sampled_from(list("aAbsSarmyied .*")), min_size=1, max_size=12), st.booleans())
def test_the_best_span_is_the_best_passage_of_the_spans_texts(text: str, ends: list[tuple[int, int]], query: str,
                                                               fresh: bool) -> None:
    # Spans anywhere: inside words, at dots that join words, at white space (as passages are).
    spans = [(min(a, b, len(text)), min(max(a, b), len(text))) for a, b in ends]
    analysis = snippets.Analysis() if fresh else DEFAULT
    query_terms = analysis.terms(query)
    assert analysis.best_span(text, spans, query_terms) == _best_by_tokenising_all([text[a:b] for a, b in spans], query_terms)


def test_the_best_span_of_real_passages_reads_the_body_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from index.text.passages import split_passages

    body = (SEEDS / sorted(p.name for p in SEEDS.glob("*"))[0]).read_text(encoding="utf-8", errors="replace")
    passages = split_passages(body, lambda texts: [len(t.split()) for t in texts], 40, overlap_sentences=1)
    assert len(passages) > 2
    spans = [(p.start, p.end) for p in passages]
    analysis = snippets.Analysis()
    texts_read: list[str] = []
    starts = snippets._token_starts

    def recording(lowered: str, prefixes: tuple[str, ...]) -> list[int]:
        texts_read.append(lowered)
        return starts(lowered, prefixes)

    for query in ("military cooperation", "Russia navy exercises Libya", "arms deal"):
        query_terms = analysis.terms(query)
        texts_read.clear()
        monkeypatch.setattr(snippets, "_token_starts", recording)
        chosen = analysis.best_span(body, spans, query_terms)
        monkeypatch.undo()
        assert texts_read == [body.lower()]
        assert chosen == _best_by_tokenising_all([p.text for p in passages], query_terms)


def _matches_by_tokenising_all(text: str, query_terms: set[str], analysis: snippets.Analysis = DEFAULT) -> list[tuple[int, int]]:
    """Highlights as they were found before the token cache: every token analysed."""
    return [(start, end) for start, end, term in analysis.tokens(text) if term in query_terms]


# With letters whose lower case is longer ("\u0130") or depends on the next letter (a final sigma, "\u03a3"),
# a modifier letter that is a word character ("\u02b0") and quotes.
TEXT = st.text(alphabet=st.sampled_from(list("aAbsSarmyYiedng .,-*_.'\u00e9\u0130\u0416\u03a3\u03c3\u02b0\n")), max_size=120)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_the_token_expression_matches_whooshs_default_one(text: str) -> None:
    import re

    whooshs = re.compile(r"[\w\*]+(\.?[\w\*]+)*")  # StemmingAnalyzer's default, as whoosh ships it
    assert [m.span() for m in snippets._WORD.finditer(text)] == [m.span() for m in whooshs.finditer(text)]


@settings(max_examples=400, deadline=None)
# A capital sigma after a capital and a quote is a final sigma in the whole text, not in its word.
@example("A'\u03a3_", "\u03a3_", False, ("snowball", "english"))
@given(TEXT, st.one_of(TEXT, st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)), st.booleans(),
       st.sampled_from(ANALYSES))
def test_highlights_are_the_tokens_whose_stems_are_query_terms(text: str, query: str, fresh: bool,
                                                               analysed: tuple[str, str]) -> None:
    # A fresh analysis has an empty cache, as in a new process.
    stemmer, stop_words = analysed
    if fresh:
        analysis = snippets.Analysis(stemmer, stop_words)
    else:
        analysis = snippets.analysis_of(BuildSettings(stemmer=stemmer, stop_words=stop_words))
    query_terms = analysis.terms(query)
    assert analysis.matches(text, query_terms) == _matches_by_tokenising_all(text, query_terms, analysis)
    passages = [text, query, text]
    overlap = [len(analysis.terms(p) & query_terms) for p in passages]
    assert analysis.best_passage(passages, query_terms) == max(range(len(passages)), key=lambda i: overlap[i])


def test_highlights_survive_the_token_cache_starting_afresh() -> None:
    analysis = snippets.Analysis(known_words=6)  # starts afresh every few texts
    texts = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(SEEDS.glob("*"))]
    for query in ("military cooperation Libya", "arms sales dying armies", "Russia navy exercises"):
        query_terms = analysis.terms(query)
        for text in texts:
            assert analysis.matches(text, query_terms) == _matches_by_tokenising_all(text, query_terms, analysis)
            passages = [text[i : i + 300] for i in range(0, len(text), 250)]
            assert analysis.best_passage(passages, query_terms) == _best_by_tokenising_all(passages, query_terms)
            assert len(analysis.known.term_of) <= 6


def _starts_as_its_term(token: str, term: str | None) -> bool:
    """What lets the token cache skip a new word that starts with no query term less its last
    STEM_CHANGES letters (search/snippets.py `_prefixes`)."""
    return term is None or token.lower().startswith(term[: max(1, len(term) - snippets.STEM_CHANGES)])


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdeghilnorstuvyzY\u00e9\u0130\u0416'")), min_size=2, max_size=16),
       st.sampled_from(STEMMERS))
def test_a_word_starts_with_its_term_less_its_last_letters(word: str, stemmer: str) -> None:
    analysis = snippets.analysis_of(BuildSettings(stemmer=stemmer, stop_words="none"))
    for token in snippets._WORD.findall(word):
        assert _starts_as_its_term(token, analysis.term(token)), token


# Words whose endings the stemmers rewrite most: Snowball's exceptional forms, Porter's and
# Snowball's suffix replacements ("-biliti" -> "-ble", "-ational" -> "-ate", "-izer" -> "-ize"),
# y -> i, and an "e" put back after "-at", "-bl", "-iz".
_REWRITTEN = ("skis", "skies", "dying", "lying", "tying", "idly", "gently", "ugly", "early", "only", "singly", "Yelling",
              "yaying", "ies", "sses", "bing", "aed", "sky", "by", "yyy", "eed", "agreed", "employability", "sensibility",
              "responsibilities", "relational", "conditional", "organization", "organizer", "operator", "valency",
              "hesitancy", "capably", "formality", "sensitivity", "hopefulness", "callousness", "hoping", "hopping",
              "luxuriating", "troubled", "sized", "cries", "happiness", "generously", "electrical", "electricity",
              "formalize", "communication", "nationalization", "probabilities", "fly", "dyed", "eyes", "played")


@pytest.mark.parametrize("stemmer", STEMMERS)
def test_the_seed_articles_words_start_with_their_terms_less_their_last_letters(stemmer: str) -> None:
    words = {w for path in SEEDS.glob("*") for w in snippets._WORD.findall(path.read_text(encoding="utf-8", errors="replace"))}
    assert len(words) > 500
    words.update(_REWRITTEN)
    analysis = snippets.analysis_of(BuildSettings(stemmer=stemmer, stop_words="none"))
    assert [w for w in sorted(words) if not _starts_as_its_term(w, analysis.term(w))] == []


def test_real_words_have_two_rewritten_letters():
    # Why the rule cuts more than a term's last letter: the two stemmers rewrite two.
    snowball = snippets.analysis_of(BuildSettings(stemmer="snowball", stop_words="none"))
    porter = snippets.analysis_of(BuildSettings(stemmer="porter", stop_words="none"))
    assert snowball.term("dying") == "die" and not "dying".startswith("di")
    assert porter.term("employability") == "employable" and not "employability".startswith("employabl")


def test_a_short_best_passage_is_shown_with_the_text_leading_up_to_it():
    """The tail of a long sentence cut at the passage budget ("fields.") can be an article's best
    passage; alone it says nothing, so its snippet is the text that ends with it."""
    from index.storage.docstore import StoredPassage
    from index.text.articles import Article
    from search import hits, snippets

    body = "The navies agreed to hold joint exercises. " + "They will cooperate in the naval " * 12 + "fields."
    tail = body.rindex("fields.")
    article = Article("a", "Navies", body, None, None, None, "a.txt")
    passages = [StoredPassage(1, "a", 0, tail - 1), StoredPassage(2, "a", tail, len(body))]
    snippet = hits._snippet(snippets.analysis_of(), article, passages, {"exercis"}, 2)
    assert snippet.text.startswith("…") and snippet.text.endswith("naval fields.")
    assert snippets.SNIPPET_CHARS - 20 <= len(snippet.text) <= snippets.SNIPPET_CHARS + 1
    # A passage long enough to read is shown as before.
    assert hits._snippet(snippets.analysis_of(), article, passages, {"exercis"}, 1).text.startswith("The navies agreed")


def test_lower_case_keeps_every_character_a_word_character_or_not() -> None:
    # What lets a snippet look for query words in a whole text lowercased at once
    # (search/snippets.py, Analysis.places): a token's bounds are the same in either case.
    import re
    import sys

    word = re.compile(r"[\w*]")
    changed = [hex(code) for code in range(sys.maxunicode + 1)
               if len(lower := chr(code).lower()) == 1 and bool(word.match(chr(code))) != bool(word.match(lower))]
    assert changed == []
