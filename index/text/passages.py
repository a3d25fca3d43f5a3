"""Splitting an article body into passages that fit the embedding model without dropping text.

all-MiniLM-L6-v2 reads at most 256 word pieces and silently truncates the rest, so long
articles are cut into passages of whole sentences under a token budget; a sentence longer than
the budget is cut between words. Passages are spans of the body, so a hit can point at the exact
text that matched.

Two sentence splitters, chosen by `BuildSettings.sentence_splitter`: "regex" (the default), which
ends a sentence at ., !, ? or … before white space and so cuts "The U.S. Army ... Gen. Smith" in
three, and "syntok" (the syntok library, MIT), which knows abbreviations, initials, decimals and
enumerations. syntok did not rank better on the dev collections (docs/tuning.md, "Sentence
splitter"), so it is opt-in. Both are safe to call from several threads at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

TokenCounter = Callable[[Sequence[str]], list[int]]
Splitter = Literal["regex", "syntok"]
SPLITTERS: tuple[str, ...] = get_args(Splitter)

# The regex splitter: a sentence ends at ., !, ? or … (plus closing quotes or brackets) before
# white space; a blank line ends a paragraph.
_BOUNDARY = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n\s*\n")
_WORD = re.compile(r"\S+")
_NON_SPACE = re.compile(r"\S")


@dataclass(frozen=True)
class Passage:
    """A span `[start, end)` of an article's body, with its text."""

    start: int
    end: int
    text: str


def sentence_spans(text: str, splitter: str = "regex") -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, white space between them excluded.

    Every character that is not white space lies in exactly one span. Raises ValueError for a
    splitter not in SPLITTERS.
    """
    if splitter == "syntok":
        return _syntok_spans(text)
    if splitter == "regex":
        return _regex_spans(text)
    raise ValueError(f"sentence splitter {splitter!r} is not one of {', '.join(SPLITTERS)}")


def _syntok_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as syntok finds them, as spans of `text`.

    Only where each sentence starts is taken from syntok (its tokens' offsets): a sentence runs
    to the next one's start, less white space. So the spans cover the text even where syntok's
    token values differ from it (it rewrites "n't" as "not") or skips a character.
    """
    import syntok.segmenter  # imported here: `accord --help` and searches never split text

    first = _NON_SPACE.search(text)
    if first is None:
        return []
    starts = [sentence[0].offset for paragraph in syntok.segmenter.analyze(text) for sentence in paragraph if sentence]
    # A sentence starts after white space: syntok may also cut a run like "5b?A" after the "?",
    # and a passage should never end inside a word.
    starts = sorted({first.start(), *(s for s in starts if s > first.start() and text[s - 1].isspace())})
    ends = [*starts[1:], len(text)]
    return [(start, len(text[:end].rstrip())) for start, end in zip(starts, ends)]


def _regex_spans(text: str) -> list[tuple[int, int]]:
    """Sentences as the regex splitter finds them."""
    spans = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        end = match.start() + len(match.group().rstrip())
        if text[start:end].strip():
            spans.append((start, end))
        start = match.end()
    tail_end = len(text.rstrip())
    if start < tail_end:
        spans.append((start, tail_end))
    return spans


def split_passages(
    text: str,
    count_tokens: TokenCounter,
    max_tokens: int,
    overlap_sentences: int = 0,
    splitter: str = "regex",
    overlap_tokens: int = 0,
) -> list[Passage]:
    """Pack whole sentences of `text` into passages of at most `max_tokens` tokens each.

    Up to `overlap_sentences` sentences at the end of one passage start the next, so a statement
    that straddles a boundary is whole in at least one passage; with `overlap_tokens` > 0 only
    as many as hold at most that many tokens together (none when the last sentence alone holds
    more), so that a long sentence is not embedded twice. Every character of every sentence
    lands in some passage. `splitter` names how sentences are found (see `sentence_spans`).
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    if overlap_tokens < 0:
        raise ValueError("overlap_tokens must not be negative")
    units = _units_within_budget(text, count_tokens, max_tokens, splitter)
    passages = []
    first = 0
    while first < len(units):
        last = first
        used = units[first][2]
        while last + 1 < len(units) and used + units[last + 1][2] <= max_tokens:
            last += 1
            used += units[last][2]
        start, end = units[first][0], units[last][1]
        passages.append(Passage(start, end, text[start:end]))
        if last + 1 >= len(units):
            break
        first = max(first + 1, last + 1 - _carried(units, first, last, overlap_sentences, overlap_tokens))
    return passages


def _carried(units: list[tuple[int, int, int]], first: int, last: int, sentences: int, tokens: int) -> int:
    """How many of the sentences `first..last` (the last ones) the next passage starts with."""
    if tokens <= 0:
        return sentences
    carried = held = 0
    while carried < sentences and last - carried > first and held + units[last - carried][2] <= tokens:
        held += units[last - carried][2]
        carried += 1
    return carried


def _units_within_budget(
    text: str, count_tokens: TokenCounter, max_tokens: int, splitter: str
) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, tokens); a sentence over the budget is cut between words."""
    spans = sentence_spans(text, splitter)
    counts = count_tokens([text[s:e] for s, e in spans])
    units: list[tuple[int, int, int]] = []
    for (start, end), tokens in zip(spans, counts):
        if tokens <= max_tokens:
            units.append((start, end, tokens))
        else:
            units.extend(_word_chunks(text, start, end, count_tokens, max_tokens))
    return units


def _word_chunks(
    text: str, start: int, end: int, count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[int, int, int]]:
    words = [(m.start() + start, m.end() + start) for m in _WORD.finditer(text[start:end])]
    counts = count_tokens([text[s:e] for s, e in words])
    chunks: list[tuple[int, int, int]] = []
    chunk_start, used = words[0][0], 0
    previous_end = words[0][0]
    for (w_start, w_end), tokens in zip(words, counts):
        if used and used + tokens > max_tokens:
            chunks.append((chunk_start, previous_end, used))
            chunk_start, used = w_start, 0
        # A single word over the budget stays whole; the model truncates only that word.
        used += tokens
        previous_end = w_end
    chunks.append((chunk_start, previous_end, used))
    return chunks
