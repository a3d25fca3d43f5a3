"""Snippets: the passage that best matches a query, cut to a short window, with its matches marked.

Text is analysed as the searched index analyses it: its build settings' stemmer and stop list
(`BuildSettings.stemmer`, `stop_words`), so a highlight marks the words the index matched and
nothing else. Pass the index's `manifest.settings` (None: the defaults).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from index.storage.keyword import analysis_steps
from index.storage.manifest import BuildSettings

SNIPPET_CHARS = 240

# The keyword index's analyzer's steps, inlined: whoosh runs each token through a chain of
# generators (~4 us a token), which was a tenth of a warm search at 100k articles.
# `tests/test_snippets_terms.py` holds the two to the same output for every stemmer and stop list.
# whoosh's default expression is r"[\w\*]+(\.?[\w\*]+)*"; this one matches the same tokens (a
# dot must join word characters either way) without the optional dot's backtracking, and its
# possessive repeats (a run of word characters is never given back: nothing after it could
# match one) skip the engine's backtracking records (~15% faster).
_WORD = re.compile(r"[\w*]++(?:\.[\w*]++)*+")
KNOWN_WORDS = 65_536  # distinct tokens kept per analysis (~14 MB); past it the cache starts afresh
_DEFAULTS = BuildSettings()


@dataclass(frozen=True)
class Snippet:
    """Snippet text on one line, and the [start, end) character offsets of query terms in it."""

    text: str
    highlights: tuple[tuple[int, int], ...]


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


# Each stemmer only ever changes a word's ending: Snowball's and Porter's steps cut a suffix or
# replace it by one that differs from the word in at most two of its last letters ("sensibility"
# -> "sensible", Snowball's exception "dying" -> "die"), so every term starts with the word it
# came from, lowercased, less the term's last STEM_CHANGES letters (of the 160,165 distinct
# tokens of the evaluation data, 10 need both letters cut, none more). A token that starts with
# no query term so cut cannot match and is not analysed: most tokens of a new article are not,
# and stemming one costs ~7 us. The rule was first "the term's first letter", which let twice as
# many tokens through to the stemmer (hybrid p50 CPU 0.982x with this one, docs/performance.md);
# `tests/test_snippets_terms.py` checks it for each stemmer.
STEM_CHANGES = 2


def _prefixes(query_terms: Collection[str]) -> tuple[str, ...]:
    """What a token's lowercased text must start with to stem to one of `query_terms`."""
    return tuple({term[: max(1, len(term) - STEM_CHANGES)] for term in query_terms})


_word_character = re.compile(r"[\w*]").match
_token_at = _WORD.match
_CAPITAL_SIGMA = "\u03a3"


@lru_cache(maxsize=4_096)
def _prefix_set(query_terms: frozenset[str]) -> tuple[str, ...]:
    """`_prefixes` of one query's terms, kept: every hit of a page asks for the same ones."""
    return _prefixes(query_terms)


def _token_starts(lowered: str, prefixes: tuple[str, ...]) -> list[int]:
    """Where in `lowered` (a text in lower case) a token starts with one of `prefixes`, in
    order: each place str.find finds a prefix that is not joined to a word character before it,
    directly or through a dot (`_WORD` makes "a.b" one token)."""
    starts: set[int] = set()
    find = lowered.find
    for prefix in prefixes:
        start = find(prefix)
        while start >= 0:
            if not start or not (_word_character(lowered, start - 1) or (
                    lowered[start - 1] == "." and start >= 2 and _word_character(lowered, start - 2))):
                starts.add(start)
            start = find(prefix, start + 1)
    return sorted(starts)


def _at_gaps(text: str, start: int, end: int) -> bool:
    """Whether `text[start:end]` starts and ends at white space or at an end of `text`."""
    return (start == 0 or text[start - 1].isspace()) and (end >= len(text) or text[end].isspace())


class Analysis:
    """How the keyword index built with one stemmer and stop list analyses text, for snippets
    and highlights: lower case, words of two characters or more, less the stop list, stemmed.

    Keeps what it analysed (`term`, and the token cache for highlights); safe to share between
    threads (see `_Known`). `analysis_of` hands out one per stemmer and stop list.
    """

    def __init__(
        self, stemmer: str = _DEFAULTS.stemmer, stop_words: str = _DEFAULTS.stop_words, *, known_words: int = KNOWN_WORDS
    ) -> None:
        self.stemmer, self.stop_words = stemmer, stop_words
        self._stem, self._stops = analysis_steps(stemmer, stop_words)
        self._known_words = known_words
        self.known = _Known()
        # Kept by the token in lower case: a query's "arms" and an article's "Arms" and "ARMS"
        # are stemmed once between them (a new word costs the stemmer ~7 us).
        self._term_of_lowered = lru_cache(maxsize=known_words)(self._analysed)

    def term(self, word: str) -> str | None:
        """The indexed term of one token (None for a stop word or a single character)."""
        return self._term_of_lowered(word.lower())

    def _analysed(self, word: str) -> str | None:
        """`term` of a token already in lower case."""
        if len(word) < 2 or word in self._stops:
            return None
        return word if self._stem is None else self._stem(word)

    def tokens(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, term) of each indexed word of `text`, as the index's analyzer yields them."""
        term_of = self._term_of_lowered
        for match in _WORD.finditer(text):
            term = term_of(match.group().lower())
            if term is not None:
                yield match.start(), match.end(), term

    def terms(self, text: str) -> set[str]:
        """The terms of `text` as the keyword index sees them."""
        return {term for _start, _end, term in self.tokens(text)}

    def best_passage(self, passages: Sequence[str], query_terms: Collection[str]) -> int:
        """Index of the passage sharing the most distinct terms with the query (first on ties)."""
        if not passages:
            raise ValueError("an article has at least one passage")
        if len(passages) == 1:  # a short article's only passage: nothing to compare
            return 0
        # Tokenising and stemming every passage of every hit word by word in Python was half of
        # a warm keyword search. The same tokens come from a C-level findall per passage, and
        # set operations against the tokens known to stem to a query term do the rest: the
        # article's new tokens are analysed first, all at once, so that set is made once.
        found = [set(_WORD.findall(passage)) for passage in passages]
        known = self._learned(set().union(*found), _prefixes(query_terms))
        wanted = known.words_for(query_terms)
        term_of = known.term_of
        best, most = 0, 0
        for number, words in enumerate(found):
            matched = words & wanted
            if len(matched) > most:  # distinct terms <= distinct tokens: fewer tokens cannot share more
                shared = len({term_of[word] for word in matched})
                if shared > most:
                    best, most = number, shared
                    if most == len(query_terms):  # no later passage can share more
                        break
        return best

    def best_span(self, text: str, spans: Sequence[tuple[int, int]], query_terms: Collection[str]) -> int:
        """`best_passage` of the passages `text[start:end]` for `spans` (an article's body and
        its passages), with `text` read once instead of passage by passage.

        An article's passages overlap and cover its body, so reading each cost about 1.4 times
        reading the body, and that was most of choosing a keyword hit's passage. A span that
        starts and ends at white space (or an end of `text`), as a passage does, holds exactly
        the body's tokens that lie inside it: a token never holds white space. A span that does
        not is read as its own text, as `best_passage` reads it."""
        if not spans:
            raise ValueError("an article has at least one passage")
        if len(spans) == 1:
            return 0
        if not all(_at_gaps(text, start, end) for start, end in spans):
            return self.best_passage([text[start:end] for start, end in spans], query_terms)
        places = self.places(text, query_terms)
        best, most = 0, 0
        for number, (low, high) in enumerate(spans):
            shared = len({term for start, end, term in places if low <= start and end <= high})
            if shared > most:
                best, most = number, shared
                if most == len(query_terms):  # no later passage can share more
                    break
        return best

    def places(self, text: str, query_terms: Collection[str]) -> list[tuple[int, int, str]]:
        """(start, end, term) of each word of `text` whose term is one of `query_terms`, in order.

        Only the words that can stem to a query term are looked at: those starting with one of
        its `_prefixes`, found by str.find in the lowercased text (a few places a passage),
        instead of cutting the whole text into tokens with the regular expression (~70 a
        passage), which was half of making a snippet. Lowercasing a whole text gives each
        character the lower case it has alone, at the same offset, with two exceptions, whose
        texts are read token by token instead: a letter whose lower case is longer ("İ" is two
        characters), and a capital sigma, whose lower case depends on the letters around it
        (CPython's only such rule), so that a word's may differ from the text's. Lower case keeps
        whether a character is a word character (checked for every character in
        tests/test_snippets_terms.py)."""
        lowered = text.lower()
        if len(lowered) != len(text) or _CAPITAL_SIGMA in text:
            return [(start, end, term) for start, end, term in self.tokens(text) if term in query_terms]
        known = self.known
        term_of = known.term_of
        found = []
        for start in _token_starts(lowered, _prefix_set(frozenset(query_terms))):
            token = _token_at(text, start)
            if token is None:  # a prefix that is no word character (a query term never starts so)
                continue
            word = token.group()
            term = term_of[word] if word in term_of else self._learn(known, word)
            if term is not None and term in query_terms:
                found.append((start, token.end(), term))
        return found

    def matches(self, text: str, query_terms: Collection[str]) -> list[tuple[int, int]]:
        """Character spans of the words in `text` whose terms are query terms."""
        return [(start, end) for start, end, _term in self.places(text, query_terms)]

    def make_snippet(self, text: str, query_terms: Collection[str], width: int = SNIPPET_CHARS) -> Snippet:
        """About `width` characters of `text` on one line, from near its first query term, on
        word bounds, with `…` where text was cut."""
        text = " ".join(text.split())
        spans = self.matches(text, query_terms)
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

    def _learn(self, known: _Known, word: str) -> str | None:
        """Analyse one token into `known`; a full cache is replaced for the next caller (this one
        keeps using `known`, so what it reads stays consistent)."""
        if len(known.term_of) >= self._known_words and self.known is known:
            self.known = _Known()
        term = self.term(word)
        if term is not None:
            known.words_of.setdefault(term, set()).add(word)
        known.term_of[word] = term
        return term

    def _learned(self, words: set[str], prefixes: tuple[str, ...]) -> _Known:
        """The token cache, holding every one of `words` that may stem to a query term: those
        starting with one of its `prefixes` (`_prefixes`; those not in it are analysed now)."""
        known = self.known
        unknown = words.difference(known.term_of)  # over `words` only (a dict's keys view would walk the dict)
        for word in unknown:
            if word.lower().startswith(prefixes):
                self._learn(known, word)
        return known


@cache  # one per stemmer and stop list: a dozen at most
def _analysis(stemmer: str, stop_words: str) -> Analysis:
    return Analysis(stemmer, stop_words)


def analysis_of(settings: BuildSettings | None = None) -> Analysis:
    """The `Analysis` of an index built with `settings` (None: the defaults), one per process."""
    settings = settings or _DEFAULTS
    return _analysis(settings.stemmer, settings.stop_words)


def terms(text: str, settings: BuildSettings | None = None) -> set[str]:
    """The terms of `text` as the keyword index built with `settings` sees them."""
    return analysis_of(settings).terms(text)


def best_passage(passages: Sequence[str], query_terms: Collection[str], settings: BuildSettings | None = None) -> int:
    """Index of the passage sharing the most distinct terms with the query (first on ties)."""
    return analysis_of(settings).best_passage(passages, query_terms)


def matches(text: str, query_terms: Collection[str], settings: BuildSettings | None = None) -> list[tuple[int, int]]:
    """Character spans of the words in `text` whose terms are query terms."""
    return analysis_of(settings).matches(text, query_terms)


def make_snippet(
    text: str, query_terms: Collection[str], width: int = SNIPPET_CHARS, settings: BuildSettings | None = None
) -> Snippet:
    """About `width` characters of `text` on one line, from near its first query term, on word
    bounds, with `…` where text was cut."""
    return analysis_of(settings).make_snippet(text, query_terms, width)
