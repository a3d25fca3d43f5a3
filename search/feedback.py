"""Pseudo-relevance feedback for the keyword leg: the query, widened by the words that stand out
in its own best hits, is run a second time.

The expansion terms and their weights come from whoosh's Bo1 model (Amati's divergence from
randomness, the model `similar()` uses) over the first run's best articles; they are mixed into
the query as RM3 does (Abdul-Jaleel et al., 2004; Anserini's `-rm3`): both term distributions
are normalised to sum 1 and the expansion gets `weight` of the mass. Only a plain ranked query,
an OR of words, is expanded: a phrase, a field other than the body, or a boolean operator means
the user said exactly what to match, and a query the engine widened itself (a region's
countries) is left as it is.

`VectorFeedback` does the same for the semantic leg, as Rocchio did for vectors: the query
vector moves towards the mean of its best articles' best passages and the leg runs again.

Everything here is pure but `feedback_run` and `vector_feedback_run`, which read through the
stores and the search they are given; nothing keeps state, so it is as safe to share between
threads as those stores are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from whoosh import query as whoosh_query

from index.errors import InvalidArgument
from index.filters import Filters
from index.storage.keyword import feedback_text
from search.fusion import best_first

if TYPE_CHECKING:
    import numpy as np  # imported where used: a keyword search never needs numpy

    from index.storage.base import ArticleReader
    from index.storage.keyword import KeywordStore

Run = list[tuple[str, float]]
FIELD = "body"  # the field plain words search (index.storage.keyword.SEARCH_FIELDS)


@dataclass(frozen=True)
class Feedback:
    """How the keyword leg is widened: the best `docs` articles of the first run are read, the
    `terms` words that most set them apart from the collection are added, and they carry
    `weight` of the query's weight (the query's own words the rest). Raises InvalidArgument for
    a count under 1 or a weight outside [0, 1)."""

    docs: int = 5
    terms: int = 10
    weight: float = 0.2

    def __post_init__(self) -> None:
        if self.docs < 1 or self.terms < 1 or not 0.0 <= self.weight < 1.0:
            raise InvalidArgument(f"feedback needs docs >= 1, terms >= 1 and 0 <= weight < 1, not {self}")


@dataclass(frozen=True)
class VectorFeedback:
    """How the semantic leg is moved: the query vector becomes `(1 - weight) * query + weight *
    mean` of the best passages of the first run's best `docs` articles, normalised. Raises
    InvalidArgument for docs under 1 or a weight outside [0, 1)."""

    # The V table's best hybrid mean (docs/tuning.md); off by default, as no setting helped.
    docs: int = 5
    weight: float = 0.3

    def __post_init__(self) -> None:
        if self.docs < 1 or not 0.0 <= self.weight < 1.0:
            raise InvalidArgument(f"vector feedback needs docs >= 1 and 0 <= weight < 1, not {self}")


@runtime_checkable
class ExpandingStore(Protocol):
    """A keyword store that can weigh the terms of some texts against its collection (the whoosh
    store can; a store without `expansion_terms` runs without feedback)."""

    def expansion_terms(self, texts: Sequence[str], count: int) -> list[tuple[str, float]]:
        """The `count` terms of `texts` that most set them apart from the collection, weighted."""
        ...


@runtime_checkable
class StoredFeedbackStore(Protocol):
    """A keyword store that keeps each article's analysed terms from indexing (the whoosh store
    does), so feedback reads no text and analyses nothing at query time."""

    def feedback_terms(self, article_ids: Sequence[str], count: int) -> list[tuple[str, float]] | None:
        """`expansion_terms` of these articles, or None when any of them has no stored terms."""
        ...


def plain_terms(query: whoosh_query.Query) -> dict[str, float] | None:
    """The body-field words of a plain OR of terms with their weights (a repeated word's boost is
    its saturated count, index.storage.keyword.query_term_weight); None for any other query (phrases, other fields, AND, NOT, nested boosts)."""
    if type(query) is whoosh_query.Term:
        return {query.text: query.boost} if query.fieldname == FIELD else None
    if type(query) is not whoosh_query.Or or query.boost != 1.0 or query.scale:
        return None
    weights: dict[str, float] = {}
    for sub in query.subqueries:
        if type(sub) is not whoosh_query.Term or sub.fieldname != FIELD:
            return None
        weights[sub.text] = weights.get(sub.text, 0.0) + sub.boost
    return weights


def interpolate(original: Mapping[str, float], expansion: Sequence[tuple[str, float]], weight: float) -> dict[str, float]:
    """RM3's mix: `(1 - weight) * original + weight * expansion`, each normalised to sum 1.

    A word in both gets both shares. Terms with no positive weight are dropped; with no usable
    expansion the original weights come back normalised.
    """
    total = sum(w for w in original.values() if w > 0)
    if not total:
        return {}
    base = {t: w / total for t, w in original.items() if w > 0}
    useful = [(t, w) for t, w in expansion if w > 0]
    if not useful:
        return base
    expansion_total = sum(w for _t, w in useful)
    mixed = {t: (1.0 - weight) * w for t, w in base.items()}
    for term, w in useful:
        mixed[term] = mixed.get(term, 0.0) + weight * w / expansion_total
    return mixed


def as_query(weights: Mapping[str, float]) -> whoosh_query.Query:
    """A plain OR of body-field terms boosted by `weights`, in a stable order."""
    return whoosh_query.Or([whoosh_query.Term(FIELD, t, boost=w) for t, w in sorted(weights.items())])


def feedback_run(
    store: KeywordStore,
    docs: ArticleReader,
    query: whoosh_query.Query,
    first: Run,
    limit: int,
    filters: Filters | None,
    feedback: Feedback,
    allowed: AbstractSet[str] | None = None,
) -> Run:
    """The keyword leg run again with `query` expanded from its first run `first`.

    `first` comes back unchanged when `expanded_query` gives none. With `allowed`, the second
    run is among those article ids, as the first was (the engine's defence-fact filter).
    """
    expanded = expanded_query(store, docs, query, first, feedback)
    if expanded is None:
        return first
    return best_first(store.search(expanded, limit, filters, allowed))


def expanded_query(
    store: KeywordStore, docs: ArticleReader, query: whoosh_query.Query, first: Run, feedback: Feedback
) -> whoosh_query.Query | None:
    """`query` widened by the terms that set the best `feedback.docs` articles of its first run
    `first` apart; None when the query is not a plain OR of words, the first run found nothing,
    no expansion term was found, or the store cannot weigh terms (it has no `expansion_terms`)."""
    original = plain_terms(query)
    if original is None or not first or not isinstance(store, ExpandingStore):
        return None
    top = [doc_id for doc_id, _score in first[: feedback.docs]]
    terms = store.feedback_terms(top, feedback.terms) if isinstance(store, StoredFeedbackStore) else None
    if terms is None:
        articles = docs.articles(top)
        texts = [feedback_text(articles[doc_id]) for doc_id in top if doc_id in articles]
        terms = store.expansion_terms(texts, feedback.terms) if texts else []
    if not terms:
        return None
    return as_query(interpolate(original, terms, feedback.weight))


def rocchio(query: np.ndarray, feedback: np.ndarray, weight: float) -> np.ndarray:
    """`(1 - weight) * query + weight * mean(feedback rows)`, scaled to unit length (cosine
    search); `query` itself when there are no feedback rows."""
    import numpy as np

    if not len(feedback):
        return query
    moved = (1.0 - weight) * np.asarray(query, dtype=np.float32) + weight * np.asarray(feedback, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(moved))
    return moved / norm if norm else query


SemanticSearch = Callable[["np.ndarray"], tuple[Run, dict[str, int]]]


def vector_feedback_run(
    search: SemanticSearch,
    passage_vectors: Callable[[Sequence[int]], np.ndarray],
    query: np.ndarray,
    first: tuple[Run, dict[str, int]],
    feedback: VectorFeedback,
) -> tuple[Run, dict[str, int]]:
    """The semantic leg run again (`search`) from `query` moved towards the best passages of the
    first run's best articles (`first`: articles best first, and each one's best passage id).
    `first` comes back unchanged when it found nothing."""
    run, best = first
    top = [best[doc_id] for doc_id, _score in run[: feedback.docs] if doc_id in best]
    if not top:
        return first
    return search(rocchio(query, passage_vectors(top), feedback.weight))
