"""How many articles match a query per month or year: `accord timeline`.

Counts are over the match set (`matches.py`): the hits of the result list search shows for the
query and filters (its first 100 by default) that match the query, near-duplicates collapsed. An article's period is its own publication
date as cleaning found it (never a date quoted in a reader comment); undated matches are counted
apart, not put in a period. Periods between the first and the last are all listed, empty ones
with 0, so a chart's gaps are real.

Thread safety: pure functions over an `Engine` (as safe as it is) and over frozen values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

from index.errors import InvalidArgument
from index.filters import Filters
from search.engine import Engine
from search.views.matches import CutOff, MatchSet, find_matches

Granularity = Literal["month", "year"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)


@dataclass(frozen=True)
class Period:
    """One month (`2019-10`) or year (`2019`) and the matches dated in it, best first."""

    label: str
    count: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class Timeline:
    """Matches per period, oldest first, and the undated matches counted apart."""

    query: str
    by: Granularity
    periods: tuple[Period, ...]
    undated: tuple[str, ...]  # ids of matches without a date, best first
    total: int  # all matches, dated or not
    cutoff: str  # the relevance cut-off in words
    complete: bool = True
    notes: tuple[str, ...] = ()

    @property
    def dated(self) -> int:
        """How many matches have a date (and so a period)."""
        return self.total - len(self.undated)


def timeline(
    engine: Engine,
    query: str,
    *,
    by: str = "month",
    filters: Filters | None = None,
    cutoff: CutOff | None = None,
    collapse: bool = True,
) -> Timeline:
    """Matches of `query` per `by` ("month" or "year") within `filters`.

    Raises InvalidArgument for another `by`, and what `find_matches` raises.
    """
    check_granularity(by)
    return timeline_of(find_matches(engine, query, filters=filters, cutoff=cutoff, collapse=collapse), by)


def check_granularity(by: str) -> None:
    """Raise InvalidArgument unless `by` is "month" or "year"."""
    if by not in GRANULARITIES:
        raise InvalidArgument(f"--by {by!r} is not one of {', '.join(GRANULARITIES)}")


def timeline_of(found: MatchSet, by: str) -> Timeline:
    """The timeline of a match set already found."""
    check_granularity(by)
    width = 7 if by == "month" else 4
    buckets: dict[str, list[str]] = {}
    undated: list[str] = []
    for match in found.matches:
        if match.date:
            buckets.setdefault(match.date[:width], []).append(match.id)
        else:
            undated.append(match.id)
    labels = _span(min(buckets), max(buckets), by) if buckets else []
    periods = tuple(Period(label, len(buckets.get(label, ())), tuple(buckets.get(label, ()))) for label in labels)
    notes = list(found.notes)
    if undated:
        notes.append(f"{len(undated)} matching article{'s' if len(undated) != 1 else ''} without a date, counted apart")
    return Timeline(
        found.query, cast(Granularity, by), periods, tuple(undated), len(found.matches), found.cutoff.describe(),
        found.complete, tuple(notes),
    )


def _span(first: str, last: str, by: str) -> list[str]:
    """Every period label from `first` to `last`, inclusive."""
    if by == "year":
        return [f"{year:04d}" for year in range(int(first), int(last) + 1)]
    year, month = int(first[:4]), int(first[5:7])
    labels = []
    while f"{year:04d}-{month:02d}" <= last:
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return labels
