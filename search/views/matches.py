"""The match set of a query: the articles the result list shows for it, as the views count them.

Views (timeline, pairs, alerts) count articles, so they need a set, not a ranked list. The set
is drawn from the result list itself: the first `top` hits (default 100, the first ten pages of
ten) of the hybrid ranking `accord search` shows for the same query and filters, near-duplicates
collapsed as search collapses them (unless asked not to), keeping the hits that match the query
on the scales of search/relevance.py: best-passage cosine at least the model's weak-match cosine
(0.40 for MiniLM), or half the query's idf weight in the article's words (a rare name counts).
So what a chart counts is what the analyst pages through, less the filler a ranked list always
has at its end; on an on-topic query the first page is counted whole. An earlier rule counted
only articles whose best passage reached a fixed cosine of 0.50 over the whole index; it found 0
to 2 articles for queries whose result list was plainly on topic. It is still there as
`--min-cosine 0.5` (docs/views.md has its measurements).

A ranked list always has hits, however poor: when nothing matches the query well, the result's
weak-match label goes into the set's `notes` and `strength`, so a view says so.

Thread safety: these are functions over an `Engine`; they are as safe to share as the Engine
they are given, and keep no state of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from index.embedding.model_files import E5_NANO_NAME, MPNET_NAME
from index.errors import InvalidArgument
from index.filters import Filters
from search import relevance
from search.engine import Engine
from search.hits import listing
from search.relevance import Strength
from search.results import Candidate, Hit, LegScore

# The cosine cut-off that was the rule before (chosen on TIME dev, checked on CISI: docs/views.md),
# now an opt-in extra condition. Each model's cosines lie on a scale of their own (E5's crowd near
# 0.8 for related and unrelated texts alike), so an opt-in model has its own (docs/views.md,
# "Other models"); a model not listed gets DEFAULT_MIN_COSINE.
DEFAULT_MIN_COSINE = 0.50
MODEL_MIN_COSINE: dict[str, float] = {
    MPNET_NAME: 0.55,
    E5_NANO_NAME: 0.84,
}
# The views count the first DEFAULT_TOP hits: the first ten pages of RESULT_PAGE hits, cut from
# the one candidate list those pages share (Engine.search's page_size), so the first page of
# results is always inside the counted set. MAX_TOP bounds what one request may ask for.
DEFAULT_TOP = 100
RESULT_PAGE = 10
MAX_TOP = 5_000


@dataclass(frozen=True)
class CutOff:
    """Which hits of the result list a view counts.

    Among the first `top` hits of the hybrid ranking (as `accord search` pages them,
    RESULT_PAGE at a time), those that match the query on the scales search/relevance.py
    calibrates: best-passage cosine of at least `min_cosine` (None: the index model's
    weak-match cosine, `relevance.weak_cosine`), or at least `min_coverage` of the query's idf
    weight in their words (None: the cosine alone decides). With `require_keyword`, only hits
    the keyword leg returned count. `every_hit` counts the first `top` hits whatever they match.
    """

    min_cosine: float | None = None
    require_keyword: bool = False
    top: int = DEFAULT_TOP
    min_coverage: float | None = relevance.WEAK_COVERAGE
    every_hit: bool = False

    def __post_init__(self) -> None:
        if self.min_cosine is not None and not -1.0 <= self.min_cosine <= 1.0:
            raise InvalidArgument(f"the cut-off cosine must lie in [-1, 1], not {self.min_cosine}")
        if self.min_coverage is not None and not 0.0 <= self.min_coverage <= 1.0:
            raise InvalidArgument(f"the cut-off coverage must lie in [0, 1], not {self.min_coverage}")
        if not 1 <= self.top <= MAX_TOP:
            raise InvalidArgument(f"the number of hits counted must be 1 to {MAX_TOP}, not {self.top}")

    @classmethod
    def for_model(cls, model: str, top: int = DEFAULT_TOP) -> CutOff:
        """The first `top` hits with the cosine the rule used to be for `model` (MODEL_MIN_COSINE),
        the cosine alone deciding."""
        return cls(min_cosine=MODEL_MIN_COSINE.get(model, DEFAULT_MIN_COSINE), top=top, min_coverage=None)

    def resolved(self, model: str) -> CutOff:
        """This cut-off with its cosine set for an index built with `model`."""
        if self.min_cosine is not None:
            return self
        return replace(self, min_cosine=relevance.weak_cosine(model))

    def admits(self, candidate: Candidate | Hit) -> bool:
        """True when `candidate` (a ranked candidate, or a hit within the first `top`) passes.
        A candidate has no coverage, and no cosine when the semantic leg did not score it; a
        hit's both are measured. A cut-off not `resolved` for a model admits by coverage alone."""
        if candidate.keyword is None and self.require_keyword:
            return False
        if self.every_hit:
            return True
        cosine = _cosine(candidate)
        if cosine is not None and self.min_cosine is not None and cosine >= self.min_cosine:
            return True
        coverage = candidate.relevance.coverage if isinstance(candidate, Hit) and candidate.relevance else None
        return coverage is not None and self.min_coverage is not None and coverage >= self.min_coverage

    def describe(self) -> str:
        """The rule in words, for output that says what was counted."""
        rule = f"one of the first {self.top} hits of the result list"
        if not self.every_hit:
            tests = [f"best-passage cosine similarity >= {self.min_cosine:.2f}" if self.min_cosine is not None else "",
                     f"{self.min_coverage:.0%} of the query's weight in its words" if self.min_coverage is not None else ""]
            rule += " with " + " or ".join(filter(None, tests))
        return rule + (" and a query term in the text" if self.require_keyword else "")


@dataclass(frozen=True)
class Match:
    """One matching article (the best-ranked copy of its duplicate group), with what views show."""

    id: str
    rank: int  # 1-based among the matches, in the hybrid ranker's order
    score: float  # the fused score
    cosine: float  # the best passage's cosine similarity to the query
    title: str
    date: str | None
    source: str | None
    countries: tuple[str, ...]
    url: str | None
    keyword: LegScore | None
    semantic: LegScore | None
    duplicates: tuple[str, ...] = ()


@dataclass(frozen=True)
class MatchSet:
    """The matches of one query under one cut-off, best first.

    `complete` is False when the result list goes on past the `top` hits counted; `notes` say
    what was counted, and that nothing matches well when the result is weak (`strength`).
    """

    query: str
    filters: Filters
    cutoff: CutOff
    matches: tuple[Match, ...]
    complete: bool = True
    notes: tuple[str, ...] = ()
    generation: str = ""
    strength: Strength | None = None

    def ids(self) -> list[str]:
        """The ids of the matches, best first."""
        return [match.id for match in self.matches]


def find_matches(
    engine: Engine,
    query: str,
    *,
    filters: Filters | None = None,
    cutoff: CutOff | None = None,
    collapse: bool = True,
) -> MatchSet:
    """The articles of `query`'s result list that `cutoff` counts (default: those of its first
    100 hits that match the query), best first, within `filters`.

    Near-duplicate copies are collapsed into their best-ranked member (listed in its
    `duplicates`) unless `collapse` is False, as search does. Raises QuerySyntaxError and
    InvalidArgument as `Engine.search` does.
    """
    filters = filters or Filters()
    cutoff = (cutoff or CutOff()).resolved(engine.manifest.model)
    result = engine.search(query, k=cutoff.top, mode="hybrid", filters=filters, collapse=collapse,
                           page_size=min(RESULT_PAGE, cutoff.top))
    matches: list[Match] = []
    for hit in result.hits:
        if not cutoff.admits(hit):
            continue
        matches.append(
            Match(
                **listing(hit),
                rank=len(matches) + 1,
                score=hit.score,
                cosine=_cosine(hit) or 0.0,
                keyword=hit.keyword,
                semantic=hit.semantic,
                duplicates=hit.duplicates,
            )
        )
    notes = [f"counted: {cutoff.describe()}"]
    complete = result.complete and result.total <= cutoff.top
    if not complete:
        notes.append(f"the result list goes on past its first {cutoff.top} hits; count more with a larger top")
    if result.strength is not None and result.strength.label == "weak":
        notes.append(result.strength.note)
    return MatchSet(query, filters, cutoff, tuple(matches), complete, tuple(notes), result.generation, result.strength)


def _cosine(item: Candidate | Hit) -> float | None:
    """The best-passage cosine of a hit (always measured in hybrid mode) or of a candidate (its
    semantic leg's score, when that leg returned it)."""
    if isinstance(item, Hit) and item.relevance is not None:
        return item.relevance.cosine
    return item.semantic.score if item.semantic is not None else None
