"""Snippets: the passage that best matches a query, cut to a short window, with its matches marked."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from whoosh.lang import stemmer_for_language, stopwords_for_language

from index.storage.keyword import keyword_analyzer

SNIPPET_CHARS = 240

# The keyword index's analyzer, and the same steps inlined: whoosh runs each token through a
# chain of generators (~4 us a token), which was a tenth of a warm search at 100k articles.
# `tests/test_snippets_terms.py` holds the two to the same output.
_analyzer = keyword_analyzer()
_WORD = re.compile(r"[\w\*]+(\.?[\w\*]+)*")  # StemmingAnalyzer's default expression
_WORD_ALL = re.compile(r"[\w\*]+(?:\.?[\w\*]+)*")  # the same tokens, for findall (no group)
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


def best_passage(passages: Sequence[str], query_terms: set[str]) -> int:
    """Index of the passage sharing the most distinct terms with the query (first on ties)."""
    if not passages:
        raise ValueError("an article has at least one passage")
    if len(passages) == 1:  # a short article's only passage: nothing to compare
        return 0
    # Tokenising and stemming every passage of every hit word by word in Python was half of a
    # warm keyword search. The same tokens come from a C-level findall per passage, each
    # distinct word is analysed once (and cached across searches), and sets do the rest.
    words = [set(_WORD_ALL.findall(p)) for p in passages]
    matched = {word: term for word in set().union(*words) if (term := _term(word)) in query_terms}
    overlap = [len({matched[word] for word in passage_words & matched.keys()}) for passage_words in words]
    return max(range(len(passages)), key=lambda i: overlap[i])


@lru_cache(maxsize=65536)
def _term(word: str) -> str | None:
    """The indexed term of one token (None for a stop word or a single character)."""
    word = word.lower()
    return _stem(word) if len(word) >= 2 and word not in STOP_WORDS else None


def matches(text: str, query_terms: set[str]) -> list[tuple[int, int]]:
    """Character spans of the words in `text` whose stems are query terms."""
    return [(start, end) for start, end, term in _tokens(text) if term in query_terms]


def make_snippet(text: str, query_terms: set[str], width: int = SNIPPET_CHARS) -> Snippet:
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
