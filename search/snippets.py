"""Snippets: the passage that best matches a query, cut to a short window, with its matches marked."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from whoosh.lang import stemmer_for_language, stopwords_for_language

from index.storage.keyword import keyword_analyzer

SNIPPET_CHARS = 240

# The keyword index's analyzer, and the same steps inlined: whoosh runs each token through a
# chain of generators (~4 us a token), which was a tenth of a warm search at 100k articles.
# `tests/test_snippets_terms.py` holds the two to the same output.
_analyzer = keyword_analyzer()
# StemmingAnalyzer's default expression is r"[\w\*]+(\.?[\w\*]+)*"; this one matches the same
# tokens (a dot must join word characters either way) without the optional dot's backtracking.
_WORD = re.compile(r"[\w*]+(?:\.[\w*]+)*")
_stem = lru_cache(maxsize=65536)(stemmer_for_language("en"))
STOP_WORDS = frozenset(stopwords_for_language("en"))


def _tokens(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, stem) of each indexed word of `text`, as StemmingAnalyzer yields them."""
    for match in _WORD.finditer(text):
        word = match.group().lower()
        if len(word) >= 2 and word not in STOP_WORDS:
            yield match.start(), match.end(), _stem(word)


@dataclass(frozen=True)
class Snippet:
    """Snippet text on one line, and the [start, end) character offsets of query terms in it."""

    text: str
    highlights: tuple[tuple[int, int], ...]


def terms(text: str) -> set[str]:
    """The stemmed, stop-word-free terms of `text`, as the keyword index sees them."""
    return {term for _start, _end, term in _tokens(text)}


def best_passage(passages: Sequence[str], query_terms: Collection[str]) -> int:
    """Index of the passage sharing the most distinct terms with the query (first on ties)."""
    if not passages:
        raise ValueError("an article has at least one passage")
    if len(passages) == 1:  # a short article's only passage: nothing to compare
        return 0
    # Tokenising and stemming every passage of every hit word by word in Python was half of a
    # warm keyword search. The same tokens come from a C-level findall per passage, and set
    # operations against the tokens already known to stem to a query term do the rest; a
    # passage with every query term ends the search (no later one can share more).
    best, most = 0, 0
    for number, passage in enumerate(passages):
        words = set(_WORD.findall(passage))
        known = _learned(words, query_terms)
        matched = words & known.words_for(query_terms)
        if len(matched) > most:  # distinct terms <= distinct tokens: fewer tokens cannot share more
            shared = len({known.term_of[word] for word in matched})
            if shared > most:
                best, most = number, shared
                if most == len(query_terms):
                    break
    return best


@lru_cache(maxsize=65536)
def _term(word: str) -> str | None:
    """The indexed term of one token (None for a stop word or a single character)."""
    word = word.lower()
    return _stem(word) if len(word) >= 2 and word not in STOP_WORDS else None


class _Known:
    """Tokens analysed so far, as written, with their indexed terms (`term_of`), and for each
    term the tokens that stem to it (`words_of`), so the tokens of a text that match a query are
    one set intersection instead of a stemmer lookup per token.

    Shared by threads without a lock: a token is added to `words_of` before `term_of`, so a
    thread that finds it in `term_of` finds it in `words_of` too; when full, a fresh one
    replaces it, and a thread still holding the old one keeps using that consistently.
    """

    __slots__ = ("term_of", "words_of")

    def __init__(self) -> None:
        self.term_of: dict[str, str | None] = {}
        self.words_of: dict[str, set[str]] = {}

    def words_for(self, query_terms: Collection[str]) -> set[str]:
        """The known tokens whose term is one of `query_terms`."""
        words_of = self.words_of
        return set().union(*[words_of[term] for term in query_terms if term in words_of])


KNOWN_WORDS = 65_536  # distinct tokens kept (~14 MB, as many as `_term` keeps); past it the cache starts afresh
_known = _Known()
_UNSEEN = "\x00"  # what `term_of.get` gives for a token not analysed yet (no term holds a NUL)

# The stemmer only ever changes a word's ending (Snowball's steps cut or replace suffixes, and
# its exceptions keep the first letter), so a token whose first letter no query term starts
# with cannot match and is not analysed: most tokens of a new article are not, and stemming one
# costs ~7 us (`tests/test_snippets_terms.py` checks the rule on the seeds and on any text).


def _initials(query_terms: Collection[str]) -> set[str]:
    return {term[:1] for term in query_terms}


def _learn(known: _Known, word: str) -> str | None:
    """Analyse one token into `known`; a full cache is replaced for the next caller (this one
    keeps using `known`, so what it reads stays consistent)."""
    global _known
    if len(known.term_of) >= KNOWN_WORDS and _known is known:
        _known = _Known()
    term = _term(word)
    if term is not None:
        known.words_of.setdefault(term, set()).add(word)
    known.term_of[word] = term
    return term


def _learned(words: set[str], query_terms: Collection[str]) -> _Known:
    """The token cache, holding every one of `words` that may stem to one of `query_terms`
    (those not in it are analysed now)."""
    known = _known
    unknown = words.difference(known.term_of)  # over `words` only (a dict's keys view would walk the dict)
    if unknown:
        initials = _initials(query_terms)
        for word in unknown:
            if word[:1].lower()[:1] in initials:
                _learn(known, word)
    return known


def matches(text: str, query_terms: Collection[str]) -> list[tuple[int, int]]:
    """Character spans of the words in `text` whose stems are query terms."""
    known = _known
    term_of = known.term_of.get
    initials: set[str] | None = None
    spans = []
    for match in _WORD.finditer(text):
        word = match.group()
        term = term_of(word, _UNSEEN)
        if term is _UNSEEN:
            if initials is None:
                initials = _initials(query_terms)
            if word[:1].lower()[:1] not in initials:
                continue
            term = _learn(known, word)
        if term in query_terms:
            spans.append(match.span())
    return spans


def make_snippet(text: str, query_terms: Collection[str], width: int = SNIPPET_CHARS) -> Snippet:
    """About `width` characters of `text` on one line, from near its first query term, on word
    bounds, with `…` where text was cut."""
    text = " ".join(text.split())
    spans = matches(text, query_terms)
    if len(text) > width:
        first = spans[0][0] if spans else 0
        start = max(0, first - width // 4)
        start = text.rfind(" ", 0, start) + 1 if start else 0
        end = text.rfind(" ", start, start + width)
        end = end if end > start else start + width
        prefix = "…" if start else ""
        suffix = "…" if end < len(text) else ""
        shift = len(prefix) - start
        spans = [(s + shift, e + shift) for s, e in spans if s >= start and e <= end]
        text = prefix + text[start:end] + suffix
    return Snippet(text, tuple(spans))
