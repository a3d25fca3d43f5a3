"""How many articles match a query per month or year: `accord timeline`.

Counts are over the match set (`matches.py`): the hits of the result list search shows for the
query and filters (its first 100 by default) that match the query, near-duplicates collapsed. An article's period is its own publication
date as cleaning found it (never a date quoted in a reader comment); undated matches are counted
apart, not put in a period. Periods between the first and the last are all listed, empty ones
with 0, so a chart's gaps are real.

With `split="kind"` the matches are also counted per kind of defence cooperation (arms_sale,
agreement, ... as stored at index time, docs/entities.md): one row per kind with a count for each
period, and a row `none` for matches with no kind. An article may report several kinds, so the
rows of a period can add up to more than its count.

Thread safety: pure functions over an `Engine` (as safe as it is) and over frozen values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal, cast, get_args

from index.errors import InvalidArgument
from index.filters import Filters
from search.engine import Engine
from search.views.matches import CutOff, MatchSet, find_matches

Granularity = Literal["month", "year"]
GRANULARITIES: tuple[str, ...] = get_args(Granularity)
Split = Literal["kind"]
SPLITS: tuple[str, ...] = get_args(Split)
NO_KIND = "none"  # the row of the matches that report no kind of cooperation


@dataclass(frozen=True)
class Period:
    """One month (`2019-10`) or year (`2019`) and the matches dated in it, best first."""

    label: str
    count: int
    ids: tuple[str, ...]


@dataclass(frozen=True)
class KindRow:
    """One kind of cooperation (or NO_KIND) in a split timeline: its matches per period, in the
    order of `Timeline.periods`, and all its matches, dated or not."""

    kind: str
    counts: tuple[int, ...]
    undated: int
    total: int


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
    split: Split | None = None
    kinds: tuple[KindRow, ...] = ()  # with split="kind": the kinds found, in KINDS order, then NO_KIND

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
    split: str | None = None,
) -> Timeline:
    """Matches of `query` per `by` ("month" or "year") within `filters`; with `split="kind"`,
    also per kind of cooperation (`Timeline.kinds`).

    Raises InvalidArgument for another `by` or `split`, IndexIncompatible for a split by kind
    of an index built before the defence facts were stored, and what `find_matches` raises.
    """
    check_granularity(by)
    check_split(split)
    found = find_matches(engine, query, filters=filters, cutoff=cutoff, collapse=collapse)
    result = timeline_of(found, by)
    if split == "kind":
        result = split_by_kind(result, engine.kinds_of(found.ids()))
    return result


def check_split(split: str | None) -> None:
    """Raise InvalidArgument unless `split` is None or "kind"."""
    if split is not None and split not in SPLITS:
        raise InvalidArgument(f"--split {split!r} is not one of {', '.join(SPLITS)}")


def split_by_kind(result: Timeline, kinds_of: Mapping[str, Sequence[str]]) -> Timeline:
    """`result` with its matches also counted per kind; `kinds_of` gives each match's kinds (a
    match missing from it has none)."""
    from index.text.defence.kinds import KINDS

    index = {period.label: i for i, period in enumerate(result.periods)}
    rows: dict[str, list[int]] = {}
    undated: Counter[str] = Counter()

    def row(kind: str) -> list[int]:
        return rows.setdefault(kind, [0] * len(result.periods))

    for period in result.periods:
        for article_id in period.ids:
            for kind in kinds_of.get(article_id) or (NO_KIND,):
                row(kind)[index[period.label]] += 1
    for article_id in result.undated:
        for kind in kinds_of.get(article_id) or (NO_KIND,):
            row(kind)
            undated[kind] += 1
    order = [kind for kind in (*KINDS, NO_KIND) if kind in rows]
    kind_rows = tuple(
        KindRow(kind, tuple(rows[kind]), undated[kind], sum(rows[kind]) + undated[kind]) for kind in order
    )
    return replace(result, split="kind", kinds=kind_rows)


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
