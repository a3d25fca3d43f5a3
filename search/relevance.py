"""How well hits match their query, on scales that mean the same for every query.

A hit's fused `score` is scaled within its own query (each leg divided by its best score), so
the best hit of any query scores about 1.0, a query about nothing in the index as much as one
with a perfect match. These measures do not depend on the other hits:

- `cosine`: the cosine similarity of the hit's best passage to the query (the embedding
  model's own scale; None in keyword mode, which never loads the model);
- `words` / `missing`: which of the query's words the article contains;
- `coverage`: the share of the query's weight those words carry, each word weighted by its
  inverse document frequency (Lucene's idf, as the keyword leg's BM25), so a rare name counts
  for more than "cooperation".

A search's `Strength` labels the whole result: "weak" when even the closest article of the
index (within the filters) is below the model's calibrated cosine and no hit near the top holds
WEAK_COVERAGE of the query's weight (in keyword mode, without a cosine: the coverage alone). The
thresholds were chosen on TIME dev, CISI and Cranfield (`benchmarks/quality/calibrate_relevance.py`,
docs/relevance.md).

Pure functions and frozen values: safe to share between threads.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from index.embedding.model_files import E5_NANO_NAME, MINILM_INT8_NAME, MINILM_NAME, MPNET_NAME
from index.storage.manifest import BuildSettings
from search import snippets

# The best-passage cosine under which a result is labelled weak: chosen for MiniLM on the dev
# collections (docs/relevance.md); a model not listed gets WEAK_COSINE.
WEAK_COSINE = 0.40
MODEL_WEAK_COSINE: dict[str, float] = {
    MINILM_NAME: 0.40,
    MINILM_INT8_NAME: 0.40,
    # Provisional, not calibrated: each model's measured views cut-off (search/views/matches.py,
    # docs/views.md "Other models") less MiniLM's margin between the two (0.50 - 0.40). E5's
    # cosines crowd near 0.8 for related and unrelated texts alike, so MiniLM's line would never fire.
    MPNET_NAME: 0.45,
    E5_NANO_NAME: 0.74,
}
# A hit carrying this share of the query's idf weight matches it whatever its cosine.
WEAK_COVERAGE = 0.5
# Keyword mode has no cosine: a result none of whose first hits carries this share is labelled
# weak. Lower than WEAK_COVERAGE: CISI's long questions leave most relevant hits short of half
# (docs/relevance.md, keyword tables).
KEYWORD_WEAK_COVERAGE = 0.3

Label = Literal["good", "weak", "none"]


@dataclass(frozen=True)
class Relevance:
    """How well one hit matches the query, whatever the other hits are.

    `cosine`: its best passage's cosine similarity to the query (None in keyword mode);
    `words`: the query's words it contains, `missing` those it lacks (as typed, stop words
    left out); `coverage`: the share of the query's idf weight in `words`, 0 to 1 (None when
    the query has no plain words, e.g. only `title:` terms).
    """

    cosine: float | None
    words: tuple[str, ...]
    missing: tuple[str, ...]
    coverage: float | None


@dataclass(frozen=True)
class Strength:
    """How well a whole result matches its query.

    `label`: "none" (no hits); "weak" when nothing matches the query well: the closest article
    of the index (within the filters) has best-passage cosine under `min_cosine` and no hit of
    the first page's ranks carries `min_coverage` of the query's weight (WEAK_COVERAGE; in
    keyword mode, without a cosine, the coverage alone decides, at KEYWORD_WEAK_COVERAGE); else
    "good". `cosine` and `coverage` are those best values
    (None where not measured); `note` says it in words.
    """

    label: Label
    cosine: float | None
    coverage: float | None
    min_cosine: float
    min_coverage: float
    note: str


def weak_cosine(model: str) -> float:
    """The weak-match cosine of an index built with `model`."""
    return MODEL_WEAK_COSINE.get(model, WEAK_COSINE)


def query_words(embed_text: str, stems: frozenset[str], settings: BuildSettings | None = None) -> list[tuple[str, str]]:
    """(word as typed, its stem) for each distinct plain word of a query whose stem the keyword
    leg searches (`stems`: a ParsedQuery's `highlight`), in the query's order; analysed as the
    index built with `settings` analyses text (the ParsedQuery's `settings`; None: the defaults)."""
    analysis = snippets.analysis_of(settings)
    found: dict[str, str] = {}
    # Word by word as the keyword index splits them: "military-technical" is two words.
    for start, end in analysis.matches(embed_text, set(stems)):
        word = embed_text[start:end].lower()
        for stem in analysis.terms(word):
            found.setdefault(stem, word)
    return [(word, stem) for stem, word in found.items()]


def idf(frequency: int, total: int) -> float:
    """Lucene's (and the keyword leg's) idf: log(1 + (N - n + 0.5) / (n + 0.5))."""
    return math.log(1.0 + (total - frequency + 0.5) / (frequency + 0.5))


@dataclass(frozen=True)
class WordMatches:
    """The query's words, each with its idf and which of the articles asked about contain it.

    `asked`: the articles whose words are known (a search asks about its candidates, not the
    whole collection: a common word is in thousands of articles); None: every article. Asking
    the `relevance` or `coverage` of another article raises ValueError.
    """

    # (word as typed, idf, articles of the collection holding it, those of `asked` holding it)
    words: tuple[tuple[str, float, int, frozenset[str]], ...]
    total: int = 0  # articles in the collection
    asked: frozenset[str] | None = None

    def rare(self, share: float) -> WordMatches:
        """Only the words in at most `share` of the collection's articles (and at least in one:
        in a tiny collection, a word in a single article is rare)."""
        most = max(1.0, share * self.total)
        return WordMatches(tuple(w for w in self.words if w[2] <= most), self.total, self.asked)

    @cached_property
    def _total(self) -> float:
        """The query's whole idf weight (summed once: the hybrid asks the coverage of every
        candidate, ~200 a search)."""
        return sum(weight for _word, weight, _n, _ids in self.words)

    def _check(self, article_id: str) -> None:
        if self.asked is not None and article_id not in self.asked:
            raise ValueError(f"the query's words were not looked up in article {article_id!r}")

    def relevance(self, article_id: str, cosine: float | None) -> Relevance:
        """The `Relevance` of one article."""
        if not self.words:
            return Relevance(cosine, (), (), None)
        self._check(article_id)
        present = tuple(word for word, _w, _n, ids in self.words if article_id in ids)
        missing = tuple(word for word, _w, _n, ids in self.words if article_id not in ids)
        return Relevance(cosine, present, missing, self.coverage(article_id))

    def coverage(self, article_id: str) -> float | None:
        """The share of the query's weight `article_id` carries (None without words)."""
        total = self._total
        if not total:
            return None
        self._check(article_id)
        return sum([weight for _word, weight, _n, ids in self.words if article_id in ids]) / total

    def coverages(self, article_ids: Sequence[str]) -> dict[str, float | None]:
        """`coverage` of each of `article_ids` (the hybrid's ~200 candidates): word by word over
        the articles holding it, the same sums in the same order."""
        total = self._total
        if not total:
            return dict.fromkeys(article_ids)
        if self.asked is not None and not self.asked.issuperset(article_ids):  # one set check, not a call an article
            for article_id in article_ids:
                self._check(article_id)  # raises for the first not asked about
        sums = dict.fromkeys(article_ids, 0.0)
        for _word, weight, _n, ids in self.words:
            for article_id in ids:
                if article_id in sums:
                    sums[article_id] += weight
        return {article_id: held / total for article_id, held in sums.items()}


def word_matches(
    words: Sequence[tuple[str, str]], found: Sequence[tuple[int, Collection[str]]], total: int,
    asked: Collection[str] | None = None,
) -> WordMatches:
    """`WordMatches` from each (word, stem) and, for each, how many articles of a collection of
    `total` hold the stem and which of the articles `asked` about do (None: `found` names every
    article holding it)."""
    return WordMatches(tuple(
        (word, idf(count, total), count, frozenset(ids)) for (word, _stem), (count, ids) in zip(words, found, strict=True)
    ), total, None if asked is None else frozenset(asked))


def strength(hits: int, cosine: float | None, coverage: float | None, model: str) -> Strength:
    """The label of a result with `hits` hits whose closest article has best-passage cosine
    `cosine` (None in keyword mode) and whose best-covering hit among the first ranks carries
    `coverage` of the query's weight (None when the query has no plain words)."""
    min_cosine = weak_cosine(model)
    min_coverage = WEAK_COVERAGE if cosine is not None else KEYWORD_WEAK_COVERAGE

    def made(label: Label, note: str) -> Strength:
        return Strength(label, cosine, coverage, min_cosine, min_coverage, note)

    if hits == 0:
        return made("none", "no article matches the query")
    # An article holding most of the query's weight (its rare words) matches it, however its
    # passages embed; so does one close in meaning that words alone would miss.
    worded = coverage is not None and coverage >= min_coverage
    close = cosine is not None and cosine >= min_cosine
    if worded or close:
        return made("good", "; ".join(filter(None, [
            f"the closest passage has cosine {cosine:.2f}" if cosine is not None else "",
            f"a hit has {coverage:.0%} of the query's weight" if coverage is not None else ""])))
    found = [f"the closest passage has cosine {cosine:.2f} (under {min_cosine:.2f})" if cosine is not None else "",
             ("no hit has any of the query's words" if coverage == 0.0 else
              f"no hit has more than {coverage:.0%} of the query's weight") if coverage is not None else ""]
    return made("weak", "weak match — nothing here matches the query well: " + " and ".join(filter(None, found)))
