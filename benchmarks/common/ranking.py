"""Ranking helpers the tuning scripts share: the evaluation depth and passage pooling (Lucene's
stop list is a keyword analysis of the library now: `BuildSettings(stop_words="lucene")`)."""

from __future__ import annotations

DEPTH = 100


FETCH = 1000


def pooled(passages: dict[str, list[float]], how: str) -> list[tuple[str, float]]:
    """Articles scored from their passage scores (best first), best article first."""
    if how == "max":
        scores = {a: s[0] for a, s in passages.items()}
    elif how == "top2":
        scores = {a: sum(s[:2]) / len(s[:2]) for a, s in passages.items()}
    elif how == "max+0.1second":
        scores = {a: s[0] + 0.1 * (s[1] if len(s) > 1 else 0.0) for a, s in passages.items()}
    else:
        raise ValueError(how)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:FETCH]
