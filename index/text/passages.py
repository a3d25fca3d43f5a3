"""Splitting an article body into passages that fit the embedding model without dropping text.

all-MiniLM-L6-v2 reads at most 256 word pieces and silently truncates the rest, so long
articles are cut into passages of whole sentences under a token budget; a sentence longer than
the budget is cut between words. Passages are spans of the body, so a hit can point at the exact
text that matched.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

TokenCounter = Callable[[Sequence[str]], list[int]]

# A sentence ends at ., !, ? or … (plus closing quotes or brackets) before white space; a blank
# line ends a paragraph.
_BOUNDARY = re.compile(r"[.!?…][\"'”’)\]]*\s+|\n\s*\n")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    """A span `[start, end)` of an article's body, with its text."""

    start: int
    end: int
    text: str


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, white space between them excluded."""
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
) -> list[Passage]:
    """Pack whole sentences of `text` into passages of at most `max_tokens` tokens each.

    `overlap_sentences` sentences at the end of one passage start the next, so a statement that
    straddles a boundary is whole in at least one passage. Every character of every sentence
    lands in some passage.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be positive")
    units = _units_within_budget(text, count_tokens, max_tokens)
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
        first = max(first + 1, last + 1 - overlap_sentences)
    return passages


def _units_within_budget(
    text: str, count_tokens: TokenCounter, max_tokens: int
) -> list[tuple[int, int, int]]:
    """Sentences as (start, end, tokens); a sentence over the budget is cut between words."""
    spans = sentence_spans(text)
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
