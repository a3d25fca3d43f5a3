"""What a search returns: small frozen dataclasses that carry each hit's score breakdown.

`Engine.search` and `Engine.similar` return a `SearchResult` of `Hit`s, `Engine.candidates` a
list of `Candidate`s, `Engine.stats` an `IndexStats`. They are frozen, so they may be shared
between threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from search.relevance import Relevance, Strength

# A frozen dataclass's generated __init__ sets each field through object.__setattr__, a Python
# call a field. `Engine.candidates` makes ~200 Candidates and ~200 LegScores a call (~0.09 ms of
# ~3.3 ms at 10,000 articles went to that), so those two write their fields straight into the
# instance's __dict__, as that __init__ ends up doing; frozen they stay (tests/test_results.py
# holds them to their fields).


@dataclass(frozen=True)
class LegScore:
    """A hit's place in one leg: 1-based rank and that leg's raw score."""

    rank: int
    score: float

    def __init__(self, rank: int, score: float) -> None:
        state = self.__dict__
        state["rank"] = rank
        state["score"] = score


@dataclass(frozen=True)
class Hit:
    """One search result with everything needed to show it and to see why it ranked.

    `highlights` are [start, end) offsets of query terms in `snippet`; `duplicates` are the ids
    of near-duplicate copies collapsed into this hit. `score` is the fused score, scaled within
    this query (its best hit scores about 1.0 however poor); `relevance` says how well the hit
    matches on scales that mean the same for every query (search/relevance.py; None for
    `similar`).
    """

    id: str
    title: str
    date: str | None
    source: str | None
    countries: tuple[str, ...]
    url: str | None
    path: str
    score: float
    snippet: str
    highlights: tuple[tuple[int, int], ...]
    keyword: LegScore | None
    semantic: LegScore | None
    duplicates: tuple[str, ...] = ()
    relevance: Relevance | None = None


@dataclass(frozen=True)
class Facets:
    """Counts over the whole candidate set of a search (every article either leg returned after
    filtering, not just the page), most frequent first. `systems`, `organisations`, `people` and
    `kinds` count the articles whose stored defence facts name each one (empty for an index
    built before the facts were stored)."""

    total: int
    countries: list[tuple[str, int]]
    years: list[tuple[str, int]]
    sources: list[tuple[str, int]]
    systems: list[tuple[str, int]] = field(default_factory=list)
    organisations: list[tuple[str, int]] = field(default_factory=list)
    people: list[tuple[str, int]] = field(default_factory=list)
    kinds: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class Candidate:
    """One article of a ranked candidate list: its fused score and its place in each leg."""

    id: str
    score: float
    keyword: LegScore | None
    semantic: LegScore | None

    def __init__(self, id: str, score: float, keyword: LegScore | None, semantic: LegScore | None) -> None:
        state = self.__dict__
        state["id"] = id
        state["score"] = score
        state["keyword"] = keyword
        state["semantic"] = semantic


@dataclass(frozen=True)
class SearchResult:
    """What one search returns: one page of hits, the facets when asked for, and how long each step took.

    `offset` is the number of hits before this page (0 for the first). `total` counts the hits
    the ranker lists for this query and filters: the fused candidate list the page was cut from,
    after near-duplicates are collapsed. `complete` is True when that list holds every article
    either leg could return (no leg was cut at its fetch depth); otherwise `total` is a lower
    bound, and a deeper page may find more. In semantic and hybrid mode every article is some
    distance from the query, so over a large index the list is seldom complete.

    It is a sequence of its hits (`for hit in result`, `result[0]`, `len(result)`), so code
    that only wants the hits can ignore the rest. `notes` say how the query was read when that
    is not obvious (for example a malformed query read as plain words). `timings` are seconds
    per step: `keyword`, `semantic` (each leg, 0.0 when it did not run), `hits` (collapsing,
    loading and snippets) and `total`. `generation` names the index generation searched.
    `strength` labels the whole result "good", "weak" or "none" on a scale that means the same
    for every query (search/relevance.py; None for `similar`); a weak result also says so in
    `notes`.
    """

    hits: tuple[Hit, ...]
    facets: Facets | None = None
    notes: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    generation: str = ""
    offset: int = 0
    total: int = 0
    complete: bool = True
    strength: Strength | None = None

    def __iter__(self) -> Iterator[Hit]:
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)

    def __getitem__(self, index: int) -> Hit:
        return self.hits[index]


@dataclass(frozen=True)
class IndexStats:
    """What an index holds."""

    index_dir: str
    model: str
    dim: int
    format_version: int
    generation: str
    articles: int
    passages: int
    sources: list[str]
    created: str
    keyword_fast_path: str = "on"
