"""Hit assembly: from a fused ranking to the hits a page shows.

`collapse_page` cuts one page from the fused list, near-duplicates collapsed into their
best-ranked copy; `build_hits` loads the page's articles and makes each `Hit` with its snippet,
highlights (the words the index matched: text analysed as the index analyses it) and place in
each leg. `listing` is the fields every list of articles shows (the engine's hits, the views'
matches), read the same way from an article or a hit.

Thread safety: plain functions over the store view they are given; they keep no state.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from index.storage.base import StoreView
from index.text.articles import Article
from search import relevance, snippets
from search.results import Hit, LegScore

if TYPE_CHECKING:
    from index.storage.docstore import StoredPassage

Run = list[tuple[str, float]]
Chosen = list[tuple[str, float, tuple[str, ...]]]  # (id, fused score, ids of collapsed copies)


@dataclass(frozen=True)
class Page:
    """The hits of one page before they are built, and how many the whole list makes."""

    chosen: Chosen
    total: int  # hits in the whole (collapsed) candidate list


class Listing(TypedDict):
    """The fields every list of articles shows: a Hit's and a view's Match's alike."""

    id: str
    title: str
    date: str | None
    source: str | None
    countries: tuple[str, ...]
    url: str | None

# A best passage shorter than this (characters) is shown with the text leading up to it.
SHORT_PASSAGE = 40


def listing(item: Article | Hit) -> Listing:
    """The shown fields of an article or a hit, to pass on as keyword arguments."""
    return Listing(id=item.id, title=item.title, date=item.date, source=item.source,
                   countries=item.countries, url=item.url)


def leg_scores(run: Run, only: Collection[str] | None = None) -> dict[str, LegScore]:
    """Each article's 1-based rank and score in one leg's run (only those in `only` when given:
    a page's hits need theirs, not the whole run's)."""
    if only is None:
        return {doc_id: LegScore(rank, score) for rank, (doc_id, score) in enumerate(run, start=1)}
    wanted = set(only)
    return {doc_id: LegScore(rank, score) for rank, (doc_id, score) in enumerate(run, start=1) if doc_id in wanted}


def collapse_page(generation: StoreView, fused: Run, offset: int, k: int, collapse: bool) -> Page:
    """Hits offset+1 .. offset+k of the fused list (near-duplicates collapsed into the best
    copy unless `collapse` is False), and how many hits the whole list makes."""
    docs = generation.docs
    if not collapse:
        return Page([(doc_id, score, ()) for doc_id, score in fused[offset : offset + k]], len(fused))
    groups = docs.duplicate_groups([doc_id for doc_id, _ in fused])
    firsts: dict[str, tuple[str, float]] = {}  # each group's best-ranked copy, in the fused order
    for hit in fused:
        firsts.setdefault(groups[hit[0]], hit)
    window = list(firsts.values())[offset : offset + k]
    members = docs.group_members(sorted({groups[doc_id] for doc_id, _ in window}))
    chosen = [(doc_id, score, tuple(m for m in members.get(groups[doc_id], []) if m != doc_id)) for doc_id, score in window]
    return Page(chosen, len(firsts))


def build_hits(
    generation: StoreView,
    highlight: frozenset[str],
    chosen: Chosen,
    sort: str,
    *,
    keyword: Run,
    semantic: Run,
    best_passage: Mapping[str, int],
    cosines: Mapping[str, float],
    words: relevance.WordMatches | None = None,
    passages: Mapping[str, Sequence[StoredPassage]] | None = None,
) -> list[Hit]:
    """The page's hits, in `chosen`'s order (with sort="date": newest first), each with its
    snippet from `best_passage` (else the passage with most of `highlight`'s terms), its place in
    the `keyword` and `semantic` runs, and, given the query's `words`, its relevance.
    `passages`: the chosen articles' passages (`ArticleReader.passages_by_article`), when the
    caller has read them."""
    docs = generation.docs
    chosen = list(chosen)
    shown = [doc_id for doc_id, _score, _copies in chosen]
    # Whole articles (bodies and all) only for the hits shown, not for every candidate.
    articles = docs.articles(shown)
    if passages is None:
        passages = docs.passages_by_article(shown)
    if sort == "date":
        # The page's hits (the most relevant after `offset`), newest first (undated last,
        # relevance breaking ties): sorting every candidate by date would put barely related
        # recent articles above the relevant ones. So pages follow relevance, and each page
        # reads newest first.
        position = {doc_id: i for i, (doc_id, _s, _c) in enumerate(chosen)}
        chosen.sort(key=lambda h: (articles[h[0]].date or "", -position[h[0]]), reverse=True)
    keyword_legs, semantic_legs = leg_scores(keyword, shown), leg_scores(semantic, shown)
    terms = set(highlight)
    analysis = snippets.analysis_of(generation.manifest.settings)
    hits = []
    for doc_id, score, copies in chosen:
        article = articles[doc_id]
        snippet = _snippet(analysis, article, passages.get(doc_id, []), terms, best_passage.get(doc_id))
        hits.append(
            Hit(
                **listing(article),
                path=article.path,
                score=score,
                snippet=snippet.text,
                highlights=snippet.highlights,
                keyword=keyword_legs.get(doc_id),
                semantic=semantic_legs.get(doc_id),
                duplicates=copies,
                relevance=None if words is None else words.relevance(doc_id, cosines.get(doc_id)),
            )
        )
    return hits


def _snippet(
    analysis: snippets.Analysis, article: Article, passages: Sequence[StoredPassage], terms: set[str], best_passage: int | None
) -> snippets.Snippet:
    if not passages:
        return snippets.Snippet("", ())
    ids = [p.id for p in passages]
    if best_passage in ids:
        chosen = ids.index(best_passage)
    else:
        chosen = analysis.best_span(article.body, [(p.start, p.end) for p in passages], terms)
    passage = passages[chosen]
    if passage.end - passage.start >= SHORT_PASSAGE:
        return analysis.make_snippet(article.body[passage.start : passage.end], terms)
    # A short best passage (the tail of a long sentence cut at the budget: "fields.") says
    # nothing alone: the snippet is the text that leads up to it, ending where it ends.
    lead = passage.end - snippets.SNIPPET_CHARS
    if lead <= 0:
        return analysis.make_snippet(article.body[: passage.end], terms)
    start = article.body.find(" ", lead, passage.start) + 1 or lead
    return analysis.make_snippet("…" + article.body[start : passage.end], terms)

