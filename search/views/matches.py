"""The match set of a query: the hits of the hybrid ranker above a relevance cut-off.

Views (timeline, pairs, alerts) count articles, so they need a set, not a ranked list. A ranked
list always has a first hit, however poor; the set must leave out what does not match.
The cut-off is the cosine similarity of an article's best passage to the query (the semantic
leg's raw score), because it is the one score on an absolute scale: BM25 grows with query
length and collection statistics, and the fused score is min-max normalised per query, so the
weakest list's best hit would score 1.0. The threshold was chosen on TIME dev and checked on
CISI (`benchmarks/tune_matches.py`, `docs/views.md`).

The set honours the same filters as search (applied inside both legs) and, unless asked not
to, collapses near-duplicate copies into their best-ranked member, as search does.

Thread safety: these are functions over an `Engine`; they are as safe to share as the Engine
they are given, and keep no state of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from index.embedding.model_files import E5_NANO_NAME, MPNET_NAME
from index.errors import InvalidArgument
from index.storage.filters import Filters
from search.engine import Candidate, Engine, LegScore

# Chosen on TIME dev, checked on CISI: docs/views.md has the table and the command.
DEFAULT_MIN_COSINE = 0.50
# Each model's cosines lie on a scale of their own (E5's crowd near 0.8 for related and unrelated
# texts alike), so an opt-in model has its own cut-off, chosen the same way (docs/views.md,
# "Other models"). A model not listed gets DEFAULT_MIN_COSINE.
MODEL_MIN_COSINE: dict[str, float] = {
    MPNET_NAME: 0.55,
    E5_NANO_NAME: 0.84,
}
FIRST_FETCH = 200  # candidates asked of each leg at first; doubled while the cut-off is not reached
MAX_FETCH = 20_000  # a query whose matches go past this many articles is cut here, and says so


@dataclass(frozen=True)
class CutOff:
    """When a ranked candidate counts as a match.

    An article matches when its best passage has cosine similarity of at least `min_cosine`
    with the query. With `require_keyword`, it must also be returned by the keyword leg (share
    a query term); measured and not the default (docs/views.md).
    """

    min_cosine: float = DEFAULT_MIN_COSINE
    require_keyword: bool = False

    def __post_init__(self) -> None:
        if not -1.0 <= self.min_cosine <= 1.0:
            raise InvalidArgument(f"the cut-off cosine must lie in [-1, 1], not {self.min_cosine}")

    @classmethod
    def for_model(cls, model: str) -> CutOff:
        """The default cut-off for an index built with `model` (see MODEL_MIN_COSINE)."""
        return cls(min_cosine=MODEL_MIN_COSINE.get(model, DEFAULT_MIN_COSINE))

    def admits(self, candidate: Candidate) -> bool:
        """True when `candidate` is a match under this cut-off."""
        if candidate.semantic is None or candidate.semantic.score < self.min_cosine:
            return False
        return candidate.keyword is not None or not self.require_keyword

    def describe(self) -> str:
        """The rule in words, for output that says what was counted."""
        rule = f"best-passage cosine similarity >= {self.min_cosine:.2f}"
        return rule + (" and a query term in the text" if self.require_keyword else "")


@dataclass(frozen=True)
class Match:
    """One matching article (the best-ranked copy of its duplicate group), with what views show."""

    id: str
    rank: int  # 1-based among the matches, in the hybrid ranker's order
    score: float  # the fused score
    cosine: float  # the best passage's cosine similarity, the quantity the cut-off tests
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

    `complete` is False when more than MAX_FETCH articles passed the cut-off and the set was
    cut there; `notes` say so in words.
    """

    query: str
    filters: Filters
    cutoff: CutOff
    matches: tuple[Match, ...]
    complete: bool = True
    notes: tuple[str, ...] = ()
    generation: str = ""

    def ids(self) -> list[str]:
        """The ids of the matches, best first."""
        return [match.id for match in self.matches]


def matching_candidates(
    engine: Engine, query: str, *, filters: Filters | None = None, cutoff: CutOff | None = None
) -> tuple[list[Candidate], bool]:
    """The hybrid ranker's candidates that pass `cutoff`, best first, and whether that list is
    complete (False when it was cut at MAX_FETCH articles).

    Each leg is asked for more candidates until the semantic leg's last one falls below the
    cut-off, so no article above it is missed however many there are.
    """
    cutoff = cutoff or CutOff.for_model(engine.manifest.model)
    fetch = FIRST_FETCH
    while True:
        candidates = engine.candidates(query, "hybrid", filters=filters, limit=fetch)
        # The semantic leg is best first: if its last article still passes, more may follow.
        reached = not any(
            c.semantic is not None and c.semantic.rank == fetch and c.semantic.score >= cutoff.min_cosine
            for c in candidates
        )
        if reached or fetch >= MAX_FETCH:
            return [c for c in candidates if cutoff.admits(c)], reached
        fetch = min(fetch * 4, MAX_FETCH)


def find_matches(
    engine: Engine,
    query: str,
    *,
    filters: Filters | None = None,
    cutoff: CutOff | None = None,
    collapse: bool = True,
) -> MatchSet:
    """The articles matching `query` (hybrid ranker, `cutoff`), best first, within `filters`.

    Near-duplicate copies are collapsed into their best-ranked member (listed in its
    `duplicates`) unless `collapse` is False. Raises QuerySyntaxError and InvalidArgument as
    `Engine.search` does.
    """
    filters = filters or Filters()
    cutoff = cutoff or CutOff.for_model(engine.manifest.model)
    passed, complete = matching_candidates(engine, query, filters=filters, cutoff=cutoff)
    chosen = _collapse(engine, passed) if collapse else [(c, ()) for c in passed]
    articles = engine.articles([c.id for c, _copies in chosen])
    matches: list[Match] = []
    for candidate, copies in chosen:
        article = articles[candidate.id]
        matches.append(
            Match(
                id=article.id,
                rank=len(matches) + 1,
                score=candidate.score,
                cosine=candidate.semantic.score if candidate.semantic else 0.0,
                title=article.title,
                date=article.date,
                source=article.source,
                countries=article.countries,
                url=article.url,
                keyword=candidate.keyword,
                semantic=candidate.semantic,
                duplicates=copies,
            )
        )
    notes = [f"a match is an article with {cutoff.describe()}"]
    if not complete:
        notes.append(f"more than {MAX_FETCH} articles pass the cut-off; only the best {MAX_FETCH} are counted")
    return MatchSet(query, filters, cutoff, tuple(matches), complete, tuple(notes), engine.manifest.generation)


def _collapse(engine: Engine, candidates: Sequence[Candidate]) -> list[tuple[Candidate, tuple[str, ...]]]:
    """Each duplicate group once, as its best-ranked candidate, with the group's other members."""
    groups = engine.duplicate_groups([c.id for c in candidates])
    members = engine.duplicate_members(sorted(set(groups.values())))
    seen: set[str] = set()
    chosen = []
    for candidate in candidates:
        group = groups[candidate.id]
        if group in seen:
            continue
        seen.add(group)
        chosen.append((candidate, tuple(m for m in members.get(group, []) if m != candidate.id)))
    return chosen
