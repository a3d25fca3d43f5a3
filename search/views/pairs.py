"""Which countries appear together in the articles matching a query: `accord pairs`.

Each matching article (`matches.py`: a hit of the result list search shows for the query and
filters that matches the query, copies collapsed) contributes every pair of the countries it is tagged with at index time (countries
it is about, not passing mentions). With country filters, only pairs that include one of those
countries are kept: `--country Russia` answers "whom does Russia cooperate with". Each pair has
its article count, its first and last dates and its best example, the highest-ranked article;
from the defence facts stored at index time (docs/entities.md), the directions its articles
state arms going in (supplier -> recipient) and the kinds of cooperation they report.

Thread safety: pure functions over an `Engine` (as safe as it is) and over frozen values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING

from index.filters import Filters
from search.engine import Engine
from search.views.matches import CutOff, Match, MatchSet, find_matches

if TYPE_CHECKING:
    from index.text.defence import DefenceFacts


@dataclass(frozen=True)
class Example:
    """The article that best shows a pair: the highest-ranked match tagged with both."""

    id: str
    title: str
    date: str | None
    url: str | None


@dataclass(frozen=True)
class Direction:
    """Arms going one way between a pair: how many of its articles state it, and the systems named."""

    supplier: str
    recipient: str
    count: int
    systems: tuple[str, ...]


@dataclass(frozen=True)
class Pair:
    """Two countries (in alphabetical order) and the matching articles tagged with both."""

    countries: tuple[str, str]
    count: int
    first: str | None  # earliest date among them (None when all are undated)
    last: str | None
    undated: int
    example: Example
    ids: tuple[str, ...]  # best first
    directions: tuple[Direction, ...] = ()  # stated transfers between the two, most articles first
    kinds: tuple[tuple[str, int], ...] = ()  # (kind of cooperation, articles reporting it), most first


@dataclass(frozen=True)
class Pairs:
    """The country pairs of a query's matches, most articles first."""

    query: str
    focus: tuple[str, ...]  # the filter countries every pair includes one of (empty: all pairs)
    pairs: tuple[Pair, ...]
    matches: int  # how many matching articles were looked at
    cutoff: str
    complete: bool = True
    notes: tuple[str, ...] = ()


def pairs(
    engine: Engine, query: str, *, filters: Filters | None = None, cutoff: CutOff | None = None, collapse: bool = True
) -> Pairs:
    """The country pairs co-occurring in the matches of `query` within `filters`.

    Raises what `find_matches` raises.
    """
    found = find_matches(engine, query, filters=filters, cutoff=cutoff, collapse=collapse)
    return pairs_of(found, {match.id: engine.facts(match.id) for match in found.matches})


def pairs_of(found: MatchSet, facts: Mapping[str, DefenceFacts | None] | None = None) -> Pairs:
    """The country pairs of a match set already found; `facts` (by article id) give each pair
    its directions and kinds."""
    focus = found.filters.countries
    members: dict[tuple[str, str], list[Match]] = {}
    for match in found.matches:  # best first, so each list is too
        for pair in combinations(sorted(set(match.countries)), 2):
            if not focus or set(pair) & set(focus):
                members.setdefault(pair, []).append(match)
    result = [_pair(pair, matches, facts or {}) for pair, matches in members.items()]
    # Most articles first; among equals, the pair whose best article ranks higher.
    result.sort(key=lambda p: (-p.count, members[p.countries][0].rank, p.countries))
    return Pairs(found.query, focus, tuple(result), len(found.matches), found.cutoff.describe(), found.complete, found.notes)


def _pair(countries: tuple[str, str], matches: list[Match], facts: Mapping[str, DefenceFacts | None]) -> Pair:
    dates = sorted(m.date for m in matches if m.date)
    best = matches[0]
    ways: Counter[tuple[str, str]] = Counter()
    systems: dict[tuple[str, str], list[str]] = {}
    kinds: Counter[str] = Counter()
    for match in matches:
        found = facts.get(match.id)
        if found is None:
            continue
        kinds.update(found.kinds)
        stated = {(t.supplier, t.recipient) for t in found.transfers if {t.supplier, t.recipient} == set(countries)}
        ways.update(stated)  # an article counts once per direction, however many sentences state it
        for t in found.transfers:
            if (t.supplier, t.recipient) in stated and t.system:
                systems.setdefault((t.supplier, t.recipient), []).append(t.system)
    directions = tuple(
        Direction(supplier, recipient, count, tuple(dict.fromkeys(systems.get((supplier, recipient), []))))
        for (supplier, recipient), count in sorted(ways.items(), key=lambda item: (-item[1], item[0]))
    )
    return Pair(
        countries=countries,
        count=len(matches),
        first=dates[0] if dates else None,
        last=dates[-1] if dates else None,
        undated=len(matches) - len(dates),
        example=Example(best.id, best.title, best.date, best.url),
        ids=tuple(m.id for m in matches),
        directions=directions,
        kinds=tuple(sorted(kinds.items(), key=lambda item: (-item[1], item[0]))),
    )
