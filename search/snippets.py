"""Snippets: the passage that best matches a query, cut to a short window around the match."""

from __future__ import annotations

from collections.abc import Sequence

from whoosh.analysis import StemmingAnalyzer

SNIPPET_CHARS = 240

_analyzer = StemmingAnalyzer()


def terms(text: str) -> set[str]:
    """The stemmed, stop-word-free terms of `text`, as the keyword index sees them."""
    return {token.text for token in _analyzer(text)}


def best_passage(passages: Sequence[str], query_terms: set[str]) -> int:
    """Index of the passage sharing the most distinct terms with the query (first on ties)."""
    if not passages:
        raise ValueError("an article has at least one passage")
    overlap = [len(terms(p) & query_terms) for p in passages]
    return max(range(len(passages)), key=lambda i: overlap[i])


def window(text: str, query_terms: set[str], width: int = SNIPPET_CHARS) -> str:
    """About `width` characters of `text` on one line, from near its first query term, on word bounds."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    first = min(
        (token.startchar for token in _analyzer(text, positions=False, chars=True) if token.text in query_terms),
        default=0,
    )
    start = max(0, first - width // 4)
    start = text.rfind(" ", 0, start) + 1 if start else 0
    end = text.rfind(" ", start, start + width)
    end = end if end > start else start + width
    prefix = "…" if start else ""
    suffix = "…" if end < len(text) else ""
    return prefix + text[start:end].strip() + suffix
