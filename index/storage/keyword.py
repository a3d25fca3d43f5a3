"""The keyword leg: a whoosh BM25 index over title and body, behind a small store interface.

The store runs whoosh query trees (parsed by `search.query`): OR-ed words are ranked by BM25F,
so documents with more of the words come first. Title and body are stemmed, so "cooperating"
finds "cooperation".
"""

from __future__ import annotations

import functools
import math
import threading
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from whoosh import index as whoosh_index
from whoosh import query as whoosh_query
from whoosh import scoring
from whoosh.analysis import STOP_WORDS, Analyzer, StandardAnalyzer, StemmingAnalyzer
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, TEXT, Schema
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.lang.porter import stem as porter_stem
from whoosh.reading import TermNotFound

from index.errors import InvalidArgument
from index.filters import Filters
from index.storage.keyword_arrays import FAST_PATH_ON, FAST_PATH_SMALL, ArrayBM25F, HeldPostings, fast_path_status
from index.storage.keyword_feedback import Bo1Expansion
from index.storage.manifest import BuildSettings
from index.text.articles import Article

# Plain words search the body field, which holds a real title too (see `keyword_body`); the
# title field is there for `title:` queries.
SEARCH_FIELDS = ("body",)
# The segment policy (see `merge_policy`): an existing segment is folded into a commit's new
# one when it holds at most MERGE_TIER times what that commit already merges; beyond
# MAX_SEGMENTS segments the smallest are folded in too, never the largest; a segment with more
# than MAX_DELETED_SHARE of its documents deleted is rewritten without them.
MERGE_TIER = 4
MAX_SEGMENTS = 6
MAX_DELETED_SHARE = 0.1
# The column holding each article's analysed feedback terms (`pack_terms`): a column, not a
# stored field, so reading a hit's id never decompresses them. Indexes written before it
# existed lack it; their feedback analyses the article text instead, with the same result.
FEEDBACK_FIELD = "feedback"
QUERY_FIELDS = ("title", "body", "source", "date", "countries")

if TYPE_CHECKING:
    import numpy as np
    from whoosh.searching import Searcher


class KeywordStore(Protocol):
    """What the ranker needs from a keyword index; a server-backed store can stand in."""

    def search(
        self, query: whoosh_query.Query, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Article ids with their keyword scores, best first, among articles passing `filters`
        (countries, sources, dates) and, when given, among the `allowed` ids (what the engine
        computed from filters the keyword index does not hold: the defence facts)."""
        ...

    def matching(self, query: whoosh_query.Query) -> set[str]:
        """The ids of every article that `query` matches (for a boolean requirement)."""
        ...

    def term_matches(self, terms: Sequence[str], among: Collection[str]) -> list[tuple[int, set[str]]]:
        """For each body-field term, how many articles hold it and which of the articles `among`
        do (a search's word matches: each word's idf, and the coverage of its candidates)."""
        ...

    def similar(
        self, text: str, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Articles most like `text`, best first, among articles passing `filters` (and among
        the `allowed` ids when given, as for `search`)."""
        ...

    def hold(self) -> None:
        """Read now and keep in memory what its searches would otherwise read term by term (a
        store that keeps nothing between searches does nothing); see `Engine.warm`."""
        ...

    def close(self) -> None:
        """Release files or connections."""
        ...

    @property
    def fast_path(self) -> str:
        """How the store scores plain queries, for `accord stats`: on, or why not."""
        ...


# Lucene's EnglishAnalyzer default stop set, as bm25s ships it (bm25s.stopwords.STOPWORDS_EN).
LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split())
_STOP_LISTS = {
    "english": lambda: stopwords_for_language("en"),  # whoosh.lang's 127 words
    "whoosh": lambda: STOP_WORDS,  # whoosh's default analyzer's (Accord's before index format 3)
    "lucene": lambda: LUCENE_STOP_WORDS,
    "none": frozenset,  # no stop words; one-letter words are still dropped, as with a list
}
_STEMMERS = {
    "snowball": lambda: stemmer_for_language("en"),
    "porter": lambda: porter_stem,  # whoosh's default (Accord's before index format 3)
    "none": lambda: None,
}


def keyword_analyzer(stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words) -> Analyzer:
    """The analyzer of the title and body fields (and so of queries on them): lower case, a
    stemmer and a stop list (`BuildSettings.stemmer` and `stop_words`, which name them).

    The defaults, the Snowball English stemmer and the 127-word English stop list as whoosh ships
    them (`whoosh.lang`), were chosen on the three dev collections over whoosh's default Porter
    stemmer and 33 stop words (docs/tuning.md, keyword leg): question-like queries ("What ...
    are there ... which ...") lose their function words, and Snowball stems as bm25s and Lucene
    do. Raises InvalidArgument for a name that is not one of `index.storage.manifest.STEMMERS`
    or `STOP_LISTS`.
    """
    stem, stoplist = analysis_steps(stemmer, stop_words)
    if stem is None:  # the same tokens and filters as StemmingAnalyzer, less the stemming
        return StandardAnalyzer(stoplist=stoplist)
    return StemmingAnalyzer(stemfn=stem, stoplist=stoplist)


def analysis_steps(
    stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words
) -> tuple[Callable[[str], str] | None, frozenset[str]]:
    """The stemming function (None: no stemming) and the stop list `keyword_analyzer` applies
    to each lower-cased token of two characters or more: for code that analyses text as the
    index does without whoosh's analyzer (search/snippets.py). InvalidArgument as there."""
    BuildSettings(stemmer=stemmer, stop_words=stop_words)  # InvalidArgument naming an unknown one
    return _STEMMERS[stemmer](), frozenset(_STOP_LISTS[stop_words]())


class LuceneIdfBM25F(scoring.BM25F):
    """whoosh's BM25F with the idf of Lucene and bm25s, log(1 + (N - n + 0.5) / (n + 0.5)).

    whoosh's own idf, log(N / (n + 1)) + 1, never drops below 1, so a word in every document
    ("what", "problem") still adds a full term's score to a long natural-language query; this
    one falls towards 0 for such words. Measured on CISI, Cranfield and TIME dev in
    docs/tuning.md (keyword leg).
    """

    def idf(self, searcher, fieldname, text):
        parent = searcher.get_parent()
        n = parent.doc_frequency(fieldname, text)
        total = parent.doc_count_all()
        return math.log(1 + (total - n + 0.5) / (n + 0.5))


# The idf a keyword store scores with (`RankingConfig.idf`): "lucene" (the default, chosen in
# docs/tuning.md) or "whoosh", whoosh's own log(N / (n + 1)) + 1, Accord's before format 3, kept
# for the tuning scripts that compare the two.
IDFS = ("lucene", "whoosh")


def keyword_weighting(k1: float, b: float, idf: str = "lucene") -> scoring.WeightingModel:
    """The BM25F weighting the keyword leg scores with; InvalidArgument for an idf not in IDFS."""
    if idf == "lucene":
        return LuceneIdfBM25F(B=b, K1=k1)
    if idf == "whoosh":
        return scoring.BM25F(B=b, K1=k1)
    raise InvalidArgument(f"idf must be one of {', '.join(IDFS)}, not {idf!r}")


def keyword_schema(
    title_boost: float = 1.0, stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words
) -> Schema:
    """The keyword index's fields and analyzers (the title boost only changes scoring; the
    stemmer and stop list are `keyword_analyzer`'s). An index keeps the schema it was created
    with, so its writers and readers analyse text as it was built."""
    analyzer = keyword_analyzer(stemmer, stop_words)
    return Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(analyzer=analyzer, field_boost=title_boost),
        body=TEXT(analyzer=analyzer),
        source=KEYWORD(lowercase=True, commas=True),
        countries=KEYWORD(lowercase=True, commas=True),
        date=ID(),
        **{FEEDBACK_FIELD: COLUMN(VarBytesColumn())},
    )


def feedback_text(article: Article) -> str:
    """What feedback reads of an article: a real title once, then the body (the index counts the
    title twice, but feedback samples the article's words, not their weighting)."""
    return article.body if article.title_is_derived else f"{article.title}\n\n{article.body}"


def analysed_terms(schema: Schema, text: str) -> dict[str, float]:
    """The body-field terms of `text` with their weights (counts), as the index analyses it:
    the weights `field.index` gives, without encoding the positions it also builds."""
    field = schema["body"]
    weights: dict[str, float] = {}
    for token in field.analyzer(text, mode="index", boosts=True):
        if not token.stopped:
            weights[token.text] = weights.get(token.text, 0.0) + token.boost
    boost = field.format.field_boost
    return {term: weight * boost for term, weight in weights.items()}


def pack_terms(terms: dict[str, float]) -> bytes:
    """`terms` as stored in FEEDBACK_FIELD: "term count" pairs, space-separated, zlib-compressed
    (a term never holds a space: the tokenizer cuts words at them)."""
    pairs = (f"{t} {int(w) if w.is_integer() else repr(w)}" for t, w in sorted(terms.items()))
    return zlib.compress(" ".join(pairs).encode("utf-8"))


def unpack_terms(packed: bytes) -> dict[str, float]:
    """The terms `pack_terms` stored."""
    terms, weights = _unpacked(packed)
    return dict(zip(terms, weights, strict=True))


def _unpacked(packed: bytes) -> tuple[list[str], list[float]]:
    """The terms `pack_terms` stored and their weights, in its order."""
    words = zlib.decompress(packed).decode("utf-8").split()
    return words[0::2], list(map(float, words[1::2]))


def keyword_body(article: Article, title_repeats: int) -> str:
    """The text indexed in the body field: a real title `title_repeats` times, then the body.

    A title weighs in as BM25F means it to (Robertson, Zaragoza and Taylor, 2004): its words add
    to the body's term frequencies before BM25 saturates them, instead of whoosh's sum of two
    separately saturated fields, which over-rewards a word in both. A body that already starts
    with its title (Cranfield's do) has that one copy counted. A derived title is never added.
    """
    if article.title_is_derived or title_repeats < 1:
        return article.body
    copies = title_repeats - article.body.startswith(article.title)
    return "\n\n".join([article.title] * copies + [article.body])


class KeywordWriter:
    """Adds and deletes articles in a whoosh index directory (created when empty); `commit` ends.

    A run of commits (a build or an update published batch by batch) ends with `end_run`, so
    that its last commit folds every segment the run wrote into its own: a build ends in one
    segment, and an update leaves the segments it found to `merge_policy` (never rewriting a
    large one unless the size tiers say so).
    """

    def __init__(
        self, directory: Path, title_boost: float, *, stemmer: str = BuildSettings.stemmer, stop_words: str = BuildSettings.stop_words
    ) -> None:
        self._title_repeats = max(round(title_boost), 0)
        directory.mkdir(parents=True, exist_ok=True)
        if whoosh_index.exists_in(str(directory)):
            ix = whoosh_index.open_dir(str(directory))  # analyses as it was created
        else:
            ix = whoosh_index.create_in(str(directory), keyword_schema(title_boost, stemmer, stop_words))
        self._schema = ix.schema
        self._feedback = FEEDBACK_FIELD in ix.schema  # an index from before the field has none
        self._writer = ix.writer(limitmb=256)
        self._run_start: frozenset[str] | None = None

    @property
    def segment_ids(self) -> frozenset[str]:
        """The ids of the index's segments before this writer commits (read with the index's
        table of contents when the writer opened it, so free)."""
        return frozenset(seg.segment_id() for seg in self._writer.segments)

    def end_run(self, run_start: Collection[str]) -> None:
        """Make this commit the last of a run that began when the index held the segments
        `run_start` (the first writer's `segment_ids`): the segments written since are folded
        into this commit's."""
        self._run_start = frozenset(run_start)

    def delete(self, article_ids: Iterable[str]) -> None:
        """Remove articles by id."""
        for article_id in article_ids:
            self._writer.delete_by_term("id", article_id)

    def add(self, article: Article) -> None:
        """Add one article, with the terms feedback reads of it analysed once, here."""
        extra = {}
        if self._feedback:
            extra[FEEDBACK_FIELD] = pack_terms(analysed_terms(self._schema, feedback_text(article)))
        self._writer.add_document(
            id=article.id,
            title="" if article.title_is_derived else article.title,
            body=keyword_body(article, self._title_repeats),
            source=article.source or "",
            countries=",".join(article.countries),
            date=article.date or "",
            **extra,
        )

    def commit(self) -> None:
        """Write the changes as a new segment, merging existing ones by `merge_policy` (and, at
        the end of a run, every segment the run wrote)."""
        if self._run_start is None:
            self._writer.commit(mergetype=merge_policy)
            return
        written = self.segment_ids - self._run_start
        self._writer.commit(mergetype=lambda writer, segments: merge_policy(writer, segments, written))

    def cancel(self) -> None:
        """Drop the changes."""
        self._writer.cancel()


def merge_policy(writer, segments: list, written: Collection[str] = ()) -> list:
    """Which of the index's `segments` a commit keeps as they are; the others are read into
    the commit's new segment (a whoosh `mergetype`). The segments whose ids are in `written`
    (those the run this commit ends wrote: see `KeywordWriter.end_run`) are always folded in and count
    as merged for the rest.

    Size-tiered, as Lucene's and whoosh's MERGE_SMALL are: from the smallest up, a segment is
    folded in while it holds at most MERGE_TIER times what the merge already holds (the
    commit's own documents included). A 10-article update to one large segment so rewrites
    only the small segments earlier updates left, never the large one (until they together
    reach a quarter of it: each document is rewritten about log5(articles / update) times
    over the index's life), and each segment that stays outweighs four times all smaller ones
    together, so there are at most about log5(articles / update) of them. A build's batches
    end in one segment: its last commit folds in all the build wrote.

    Past MAX_SEGMENTS the smallest are folded in as well (the keyword leg reads every term's
    postings once per segment). Deleted documents still count in BM25's statistics until
    their segment is rewritten, so a segment with more than MAX_DELETED_SHARE of its documents
    deleted is rewritten without them: a cost in proportion to what was deleted.
    """
    from whoosh.reading import SegmentReader

    fold = [seg for seg in segments if seg.segment_id() in written]
    by_size = sorted((seg for seg in segments if seg not in fold), key=lambda seg: seg.doc_count_all())
    merged = writer.doc_count() + sum(seg.doc_count_all() for seg in fold)
    for seg in by_size:
        if seg.doc_count_all() > MERGE_TIER * merged:
            break
        fold.append(seg)
        merged += seg.doc_count_all()
    rest = [seg for seg in by_size if seg not in fold]
    fold += [seg for seg in rest[: max(len(rest) + 1 - MAX_SEGMENTS, 0)] if seg is not by_size[-1]]
    fold += [seg for seg in by_size if seg not in fold
             and seg.deleted_count() > MAX_DELETED_SHARE * max(seg.doc_count_all(), 1)]
    for seg in fold:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        writer.add_reader(reader)
        reader.close()
    return [seg for seg in segments if seg not in fold]


def _filter_query(filters: Filters) -> whoosh_query.Query:
    parts: list[whoosh_query.Query] = [whoosh_query.Term("countries", c.lower()) for c in filters.countries]
    if filters.sources:
        parts.append(whoosh_query.Or([whoosh_query.Term("source", s.lower()) for s in filters.sources]))
    if filters.since or filters.until:
        # Dates are ISO strings, so a term range is a date range; "" (undated) sorts before all.
        parts.append(whoosh_query.TermRange("date", filters.since or "0000", filters.until or "9999"))
    return whoosh_query.And(parts)


class _PreloadedOr(whoosh_query.Or):
    """whoosh's OR, matched by adding each clause's scores into an array (its PreloadedOr)
    instead of a binary tree of union matchers, unless the search needs the current match
    (phrases do) or a coordination bonus.

    whoosh picks the tree for indexes over 5,000 documents, expecting it to skip low-scoring
    blocks; on our queries it rarely could. Measured on 100k replicated Reuters articles, 200
    queries, 100 hits each (docs/performance.md): p50 128 -> 110 ms, p95 410 -> 253 ms, with the
    same hits in the same order and the same scores.
    """

    def _matcher(self, subs, searcher, context):
        if context is None or context.needs_current or self.scale:
            return super()._matcher(subs, searcher, context)
        return whoosh_query.compound.PreloadedOr(subs, boost=self.boost).matcher(searcher, context)


def _preloaded(query: whoosh_query.Query) -> whoosh_query.Query:
    """`query` with every plain Or replaced by a _PreloadedOr."""
    if type(query) is whoosh_query.Or:
        return _PreloadedOr([_preloaded(q) for q in query.subqueries], boost=query.boost, scale=query.scale)
    return query.apply(_preloaded)


# How much a query word typed c times weighs (its term boost), by name. "linear" (c, as Lucene
# and bm25s count it) was chosen on the dev collections alone and lost 0.013 hybrid nDCG@10 on
# held-out ones: in a long request an ordinary word said three or four times outweighed the one
# rare word the request was about. The saturating weights keep a repeat's signal but bound it.
QUERY_TERM_WEIGHTINGS = ("k3", "log", "linear", "once")
# BM25's query-term saturation (Robertson et al., "Okapi at TREC-3"): (k3 + 1) c / (k3 + c),
# at most k3 + 1; a word typed 2, 3, 4 times weighs 1.38, 1.57, 1.69. Of 7 (Okapi's), 3 and 1.2,
# 1.2 had the best hybrid mean and was at or above linear counting on all three dev collections.
BM25_K3 = 1.2
# Chosen by benchmarks/tuning/tune_loco.py on TIME dev, CISI and Cranfield (docs/tuning.md, Q table):
# no dev collection tells the weightings apart beyond noise, so the one that never fell below
# linear counting there and bounds a repeat's weight.
DEFAULT_QUERY_TERM_WEIGHTING = "k3"

_query_term_weighting: ContextVar[str] = ContextVar("query_term_weighting", default=DEFAULT_QUERY_TERM_WEIGHTING)


def query_term_weight(count: int, weighting: str) -> float:
    """The boost of a query word typed `count` times under `weighting` (a QUERY_TERM_WEIGHTINGS
    name, or "k3=<value>" for BM25's saturation with another constant); 1.0 for one typing under
    all of them. Raises InvalidArgument for an unknown name or a k3 that is not a positive number."""
    name, _, value = weighting.partition("=")
    if name == "linear" and not value:
        return float(count)
    if name == "once" and not value:
        return 1.0
    if name == "log" and not value:
        return 1.0 + math.log(count)
    if name == "k3":
        try:
            k3 = float(value) if value else BM25_K3
        except ValueError:
            k3 = -1.0
        if k3 > 0 and math.isfinite(k3):
            return (k3 + 1.0) * count / (k3 + count)
    raise InvalidArgument(
        f"query term weighting {weighting!r}: use one of {', '.join(QUERY_TERM_WEIGHTINGS)} or k3=<positive number>"
    )


@contextmanager
def query_term_weighting(weighting: str) -> Iterator[None]:
    """Parse queries in this context (this thread, this task) with another weighting of repeated
    words, so a tuning run compares weightings on one built index: they change only the query.
    Raises InvalidArgument for an unknown weighting."""
    query_term_weight(1, weighting)
    token = _query_term_weighting.set(weighting)
    try:
        yield
    finally:
        _query_term_weighting.reset(token)


def count_repeated_terms(query: whoosh_query.Query, weighting: str | None = None) -> whoosh_query.Query:
    """A plain OR of words with each repeated term once, boosted by `query_term_weight` of its
    count (`weighting`: default the context's, see `query_term_weighting`, else
    DEFAULT_QUERY_TERM_WEIGHTING).

    whoosh drops repeated terms when it normalises a query; a long question that names its
    subject three times ("titles ... titles ... titles") means it, so a repeat weighs more, but
    with "k3" or "log" less than its count. Queries with any other structure are unchanged, and
    so is a query without repeats. The tree carries the weights as term boosts, which the whoosh
    store, its array fast path and the PostgreSQL store all multiply in the same way.
    """
    weighting = weighting or _query_term_weighting.get()
    terms = _flat_terms(query)
    if terms is None:
        return query
    counts: dict[tuple[str, object, float], int] = {}
    for term in terms:
        key = (term.fieldname, term.text, term.boost)
        counts[key] = counts.get(key, 0) + 1
    if all(count == 1 for count in counts.values()):
        return query
    return whoosh_query.Or(
        [whoosh_query.Term(f, t, boost=b * query_term_weight(n, weighting)) for (f, t, b), n in counts.items()]
    )


def _flat_terms(query: whoosh_query.Query) -> list[whoosh_query.Term] | None:
    """The terms of a tree of unboosted plain ORs, in order; None for anything else."""
    if isinstance(query, whoosh_query.Term) and type(query) is whoosh_query.Term:
        return [query]
    if type(query) is whoosh_query.Or and query.boost == 1.0 and not query.scale:
        found: list[whoosh_query.Term] = []
        for sub in query.subqueries:
            terms = _flat_terms(sub)
            if terms is None:
                return None
            found += terms
        return found
    return None


class WhooshKeywordStore:
    """A keyword store over a whoosh index directory.

    Safe to share between threads: a whoosh searcher keeps file positions and caches that must
    not be used by two threads at once, so each thread searches through its own searcher (and
    its own array scorer), opened on its first search and kept for the next. Feedback's
    collection statistics and the articles it read last (`Bo1Expansion`) are shared by all
    threads, which that class allows. `close` closes them all; call it only when no thread is
    still searching.
    """

    def __init__(self, directory: Path, bm25_k1: float = 1.2, bm25_b: float = 0.75, idf: str = "lucene") -> None:
        self._weighting = keyword_weighting(bm25_k1, bm25_b, idf)  # first: a bad idf opens nothing
        self._index = whoosh_index.open_dir(str(directory))
        # Read once: whoosh's `FileIndex.schema` reads and unpickles the index's TOC file on every
        # access (about a millisecond, once or twice a warm hybrid search, found by profiling).
        self._schema = self._index.schema
        self._k1, self._b = bm25_k1, bm25_b
        self._local = threading.local()
        self._held = HeldPostings()  # what every thread's array scorer decodes, for all of them
        self._opened: list[tuple[Searcher, ArrayBM25F]] = []
        self._opened_lock = threading.Lock()
        self.fast_path = fast_path_status(self._index.doc_count_all())

    @functools.cached_property
    def _expansion(self) -> Bo1Expansion:
        """Collection statistics for feedback, read when feedback first needs them (a keyword
        search never does) and kept: the index of one generation never changes. Each term's
        collection frequency is read the first time feedback meets it. Two threads reading them
        at once both get the same numbers."""
        with self._index.reader() as reader:
            return Bo1Expansion(reader.doc_count_all(), reader.field_length("body"))

    def _feedback_column(self, searcher: Searcher):
        """This thread's reader of the feedback column (for its searcher)."""
        column = getattr(self._local, "feedback_column", None)
        if column is None or column[0] is not searcher:
            column = (searcher, searcher.reader().column_reader(FEEDBACK_FIELD))
            self._local.feedback_column = column
        return column[1]

    def _searcher(self) -> tuple[Searcher, ArrayBM25F]:
        opened = getattr(self._local, "opened", None)
        if opened is None:
            searcher = self._index.searcher(weighting=self._weighting)
            serving = self.fast_path in (FAST_PATH_ON, FAST_PATH_SMALL)
            opened = (searcher, ArrayBM25F(searcher, b=self._b, k1=self._k1, enabled=serving, held=self._held))
            self._local.opened = opened
            with self._opened_lock:
                self._opened.append(opened)
        return opened

    def hold(self) -> None:
        """Read now what searches would otherwise read term by term: every body-field term's
        collection frequency for feedback (`Bo1Expansion.hold`), the postings of the body
        field's terms, those of most documents first, decoded for the array scorer up to its
        budget (`ArrayBM25F.hold`, shared by every thread's scorer), and the articles' stored
        feedback terms, prepared, up to keyword_feedback.HELD_TERMS terms
        (`Bo1Expansion.hold_documents`). ~0.5 s and ~13 MB at 2,000 articles, ~2.5 s and ~66 MB
        at 28,828, before the feedback terms."""
        _searcher, arrays = self._searcher()
        field = self._schema["body"]
        lexicon = arrays.lexicon("body")
        frequencies: dict[str, float] = {}
        # Summed over the segments in their order from 0, as whoosh's combined term info sums
        # them (reading.combine_terminfos): the same floats `_frequencies` reads one by one.
        for _reader, text, info in lexicon:
            term = field.from_bytes(text)
            frequencies[term] = frequencies.get(term, 0) + info.weight()
        self._expansion.hold(frequencies)
        arrays.hold("body", lexicon)
        if FEEDBACK_FIELD in self._schema:
            self._expansion.hold_documents(self._feedback_documents(), self._frequencies)

    def _feedback_documents(self) -> Iterator[tuple[str, tuple[list[str], list[float]]]]:
        """Every live article's id and stored feedback terms, by document number (those with
        none stored left out: `feedback_terms` reads their texts)."""
        searcher, _arrays = self._searcher()
        column = self._feedback_column(searcher)
        for docnum, article_id in self._article_ids(searcher).items():
            packed = column[docnum]
            if packed:
                yield article_id, _unpacked(packed)

    def close(self) -> None:
        """Close every thread's searcher and its files."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for searcher, _arrays in opened:
            searcher.close()

    def article_ids(self) -> set[str]:
        """Every article id in the index (for consistency checks)."""
        searcher, _arrays = self._searcher()
        return {fields["id"] for fields in searcher.all_stored_fields()}

    def search(
        self, query: whoosh_query.Query, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Article ids and BM25F scores, best first; empty when the query has no indexed terms."""
        if query is whoosh_query.NullQuery:
            return []
        return self._run(self._preloaded(query), limit, filters, allowed)

    def _preloaded(self, query: whoosh_query.Query) -> whoosh_query.Query:
        """`_preloaded(query)`, the same object for the same query asked again by this thread
        (the engine's completion asks the keyword leg's query again among a few articles): the
        array scorer then picks their scores out of the ones it summed (`ArrayBM25F._matches`)."""
        last = getattr(self._local, "preloaded", None)
        if last is not None and last[0] is query:
            return last[1]
        parsed = _preloaded(query)
        self._local.preloaded = (query, parsed)
        return parsed

    def matching(self, query: whoosh_query.Query) -> set[str]:
        """The ids of every article that `query` matches, scored or not."""
        if query is whoosh_query.NullQuery:
            return set()
        searcher, arrays = self._searcher()
        ids = self._article_ids(searcher)
        if type(query) is whoosh_query.Term:
            # One word (the engine asks this for each word of a query, to tell how well hits
            # match): the postings the keyword leg just read, kept decoded by the array scorer.
            found = arrays.term_documents(query)
            if found is not None:
                return {ids[docnum] for docnum in found.tolist()}
        return {ids[docnum] for docnum in searcher.docs_for_query(query)}

    def term_matches(self, terms: Sequence[str], among: Collection[str]) -> list[tuple[int, set[str]]]:
        """For each body-field term, how many articles hold it and which of `among` do: from the
        postings the keyword leg just read (kept decoded by the array scorer), without turning
        a common word's thousands of documents into article ids (~0.35 ms a search at 10,000
        articles when `matching` did)."""
        searcher, arrays = self._searcher()
        found: list[tuple[int, set[str]]] = []
        asked: tuple[list[str], np.ndarray] | None = None
        for term in terms:
            query = whoosh_query.Term("body", term)
            documents = arrays.term_documents(query)
            if documents is None:  # the array scorer is off: through whoosh
                every = self.matching(query)
                found.append((len(every), every.intersection(among)))
                continue
            import numpy as np  # loaded already: the array scorer serves only once it is

            if asked is None:
                asked = self._numbered(searcher, among)
            ids, numbers = asked
            holding: set[str] = set()
            if len(documents) and len(numbers):
                # term_documents are ascending (each segment's postings, segment after segment).
                at = np.searchsorted(documents, numbers).clip(max=len(documents) - 1)
                holding = {ids[i] for i in np.flatnonzero(documents[at] == numbers).tolist()}
            found.append((len(documents), holding))
        return found

    def _numbered(self, searcher: Searcher, article_ids: Collection[str]) -> tuple[list[str], np.ndarray]:
        """`article_ids` with their document numbers as an array (-1 for an id not in the index:
        no document has it)."""
        import numpy as np

        ids = list(article_ids)
        get = self._docnums(searcher).get
        return ids, np.array([get(article_id, -1) for article_id in ids], dtype=np.int64)

    def _article_ids(self, searcher: Searcher) -> dict[int, str]:
        """Document number -> article id for this thread's searcher, read once and kept: a broad
        boolean query matches thousands of documents, and reading each one's stored fields cost
        more than finding them: on 20k Reuters articles "said AND NOT oil" (14,560 matches) took
        541 ms that way and 194 ms with the map (benchmarks/query_speed/bench_boolean.py, docs/performance.md
        section 9)."""
        ids = getattr(self._local, "ids", None)
        if ids is None or ids[0] is not searcher:
            ids = (searcher, {docnum: fields["id"] for docnum, fields in searcher.reader().iter_docs()})
            self._local.ids = ids
        return ids[1]

    def _docnums(self, searcher: Searcher) -> dict[str, int]:
        """Article id -> document number for this thread's searcher (the reverse of
        `_article_ids`), read once and kept."""
        docnums = getattr(self._local, "docnums", None)
        if docnums is None or docnums[0] is not searcher:
            ids = self._article_ids(searcher)
            docnums = (searcher, {article_id: docnum for docnum, article_id in ids.items()})
            self._local.docnums = docnums
        return docnums[1]

    def _docnum(self, searcher: Searcher, article_id: str) -> int | None:
        """An article's document number (None: not in the index): from the reverse of
        `_article_ids` once this thread has read that, else through the id field's postings."""
        docnums = getattr(self._local, "docnums", None)
        if docnums is None or docnums[0] is not searcher:
            ids = getattr(self._local, "ids", None)
            if ids is None or ids[0] is not searcher:
                return searcher.document_number(id=article_id)
            docnums = (searcher, {article_id: docnum for docnum, article_id in ids[1].items()})
            self._local.docnums = docnums
        return docnums[1].get(article_id)

    def similar(
        self, text: str, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Articles sharing the most distinctive terms of `text` (more-like-this), best first."""
        searcher, _arrays = self._searcher()
        terms = searcher.key_terms_from_text("body", text, numterms=25)
        if not terms:
            return []
        parsed = _PreloadedOr([whoosh_query.Term("body", term, boost=weight) for term, weight in terms])
        return self._run(parsed, limit, filters, allowed)

    def expansion_terms(self, texts: Sequence[str], count: int) -> list[tuple[str, float]]:
        """The `count` body-field terms of `texts` that most set them apart from the index, with
        whoosh's Bo1 weights (largest first, the largest 1.0); for pseudo-relevance feedback."""
        analysed = [analysed_terms(self._schema, text) for text in texts]
        return self._expansion.expanded([(list(terms), list(terms.values())) for terms in analysed], count,
                                        self._frequencies)

    def feedback_terms(self, article_ids: Sequence[str], count: int) -> list[tuple[str, float]] | None:
        """`expansion_terms` of these articles' feedback texts, from the terms analysed when they
        were indexed; None when an article has none stored (an index from before they were, or
        an id not in the index), for the caller to read the texts instead."""
        if FEEDBACK_FIELD not in self._schema:
            return None
        searcher, _arrays = self._searcher()

        def stored(article_id: str) -> tuple[list[str], list[float]] | None:
            docnum = self._docnum(searcher, article_id)
            packed = None if docnum is None else self._feedback_column(searcher)[docnum]
            return _unpacked(packed) if packed else None  # a document without the value reads as b""

        # By article id: the expansion keeps the articles it read last (one generation's
        # articles never change), so an article among an earlier query's best is not read again.
        return self._expansion.expanded_kept(article_ids, stored, count, self._frequencies)

    def _frequencies(self, terms: Sequence[str]) -> list[float | None]:
        """Each term's collection frequency in the body field (None: not indexed there), read
        through this thread's searcher."""
        searcher, _arrays = self._searcher()
        reader = searcher.reader()
        field = self._schema["body"]
        found: list[float | None] = []
        for term in terms:
            try:  # one lookup, not whoosh's `in` and then `frequency`: the same sum
                found.append(reader.term_info("body", field.to_bytes(term)).weight())
            except TermNotFound:
                found.append(None)
        return found

    def _run(
        self, parsed: whoosh_query.Query, limit: int, filters: Filters | None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        searcher, arrays = self._searcher()
        restrict = _filter_query(filters) if filters and filters.active else None
        # Allowed ids become a set of document numbers, which both scorers take as a filter, so
        # the best `limit` are found among them instead of among every match.
        scope: set[int] | None = None
        if allowed is not None:
            numbers = self._docnums(searcher)
            scope = {numbers[i] for i in allowed if i in numbers}
            if restrict is not None:
                scope.intersection_update(searcher.docs_for_query(restrict))
            if not scope:
                return []
        if arrays.supports(parsed):
            top = arrays.top(parsed, limit, scope if scope is not None else
                             None if restrict is None else searcher.docs_for_query(restrict))
            if top is not None:
                article_id = self._article_id(searcher)
                return [(article_id(docnum), score) for docnum, score in top]
            self.fast_path = arrays.disabled_reason or self.fast_path
        results = searcher.search(parsed, limit=limit, filter=scope if scope is not None else restrict)
        article_id = self._article_id(searcher)
        return [(article_id(hit.docnum), float(hit.score)) for hit in results]

    def _article_id(self, searcher: Searcher) -> Callable[[int], str]:
        """What gives a document's article id: `_article_ids` once this thread has read it (the
        engine's word matches do on a first search), else its stored fields, so a cold one-off
        search never reads every document's. Looked up once for a search's hits, not per hit."""
        ids = getattr(self._local, "ids", None)
        if ids is not None and ids[0] is searcher:
            return ids[1].__getitem__
        return lambda docnum: searcher.stored_fields(docnum)["id"]
