"""One parsed query: built once per search, read by both legs, the snippets and the result.

    parsed = parse_query('"arms deal" Libya AND NOT Egypt')
    parsed.keyword      # the whoosh query tree the keyword leg runs
    parsed.constraint   # what every hit must satisfy (here: the whole boolean query), or None
    parsed.embed_text   # what the encoder embeds: 'arms deal Libya Egypt' less the excluded word
    parsed.highlight    # stemmed terms to mark in snippets: positive terms only

Query syntax (whoosh's): words are OR-ed and ranked, "quoted phrases" match exactly,
`title:libya` searches one field, AND/OR/NOT combine, `*` is a wildcard. A query is read with
that syntax when it is well formed. A natural-language query is never an error: a question
mark is punctuation ("What is information science?"), and a query that is not well formed (an
open quote or bracket, "1) ... 2) ...", a lone AND, an unknown `field:`) is read as plain
words, with a note saying so. `strict=True` raises QuerySyntaxError instead, for tools that
want to know.

An all-capitals query ("SYRIA AND IRAQ", old wire copy) is plain words, not operators.

A query is analysed (stemmed, stop words dropped) as the index it searches was built:
`parse_query(text, settings=manifest.settings)` reads it with that index's stemmer and stop list
(`BuildSettings.stemmer`, `stop_words`); without settings, with the defaults.

Any text is a query, however long or odd. whoosh's parser recurses once per bracket level and
its matchers once per operator, and takes time quadratic in the length of a word, so a query is
read with syntax only within bounds: at most MAX_QUERY_DEPTH nested brackets and
MAX_QUERY_OPERATORS operators (past them it is read as plain words, with a note), and only its
first MAX_QUERY_CHARS characters are searched (with a note).
"""

from __future__ import annotations

import copy
import re
import traceback
from dataclasses import dataclass
from functools import lru_cache

from whoosh import query as whoosh_query
from whoosh.qparser import MultifieldParser, OperatorsPlugin, OrGroup, syntax
from whoosh.qparser.common import attach

from index.errors import QuerySyntaxError
from index.storage.keyword import QUERY_FIELDS, SEARCH_FIELDS, count_repeated_terms, keyword_schema
from index.storage.manifest import BuildSettings
from search.snippets import analysis_of

_FIELD_PREFIX = re.compile(r"(?<![\w\"])([A-Za-z_]\w*):(?=\S)")
_OPERATOR = re.compile(r"\b(AND|OR|NOT|ANDNOT|ANDMAYBE|REQUIRE)\b")
# The bounds of a query read with syntax. An analyst's query nests a few brackets and joins a few
# dozen clauses; these leave room for that while whoosh's recursion (about three frames per
# bracket level and one per operator) stays far below Python's limit of 1,000 frames, also in a
# server thread that is already deep in its own calls.
MAX_QUERY_DEPTH = 32
MAX_QUERY_OPERATORS = 64
# Text past this is not searched: whoosh's tagger is quadratic in the length of a word (a
# 30,000-character word takes 6 s), and the embedding model reads only the first few hundred
# words anyway.
MAX_QUERY_CHARS = 4_000
_DOUBLE_NOT = re.compile(r"\bNOT\s+NOT\b")
# A `?` is punctuation: whoosh would read it as a one-character wildcard, so "science?" would
# never match "science", stemmed or not.
_QUESTION_MARK = re.compile(r"\?")
# What whoosh's parser could read as syntax in a query (`_plain_tree`): quotes, brackets, ranges,
# wildcards (whoosh's question marks included), `field:`, `^boost`, `~`, a quote that opens a
# 'single-quoted term' (at the start or after a non-word character), and the operator words.
_MAYBE_SYNTAX = re.compile(r"[\"()\[\]{}*?\u055E\u061F\u1367:^~]|(?:^|(?<=\W))'")
_WORD_SPAN = re.compile(r"\S+")  # whoosh's WhitespacePlugin cuts words at \s+
_DEFAULT_SETTINGS = BuildSettings()
# Nodes that make a query a boolean requirement rather than a ranking of OR-ed words.
_BOOLEAN = (whoosh_query.And, whoosh_query.Not, whoosh_query.AndNot, whoosh_query.Require, whoosh_query.AndMaybe)


@dataclass(frozen=True)
class ParsedQuery:
    """A query as both legs, the snippets and the result need it. Immutable; safe to share.

    `keyword` is the whoosh query tree (NullQuery when nothing is left to search); `constraint`
    is the boolean requirement every hit of any leg must meet (the keyword tree itself when it
    uses AND, NOT or a required clause; None for a plain ranked OR of words and phrases);
    `excludes_only` is True for a query like `NOT oil` that names nothing to look for;
    `embed_text` is what the semantic leg embeds (the positive words, no operators, fields or
    excluded words); `highlight` are the stemmed positive terms of the text fields; `notes`
    say how the query was read when it was not as typed; `settings` are the build settings
    whose stemmer and stop list analysed it (those of the index it is for).
    """

    text: str
    keyword: whoosh_query.Query
    constraint: whoosh_query.Query | None
    excludes_only: bool
    embed_text: str
    highlight: frozenset[str]
    notes: tuple[str, ...] = ()
    settings: BuildSettings = _DEFAULT_SETTINGS


def parse_query(text: str, *, strict: bool = False, settings: BuildSettings | None = None) -> ParsedQuery:
    """Parse `text` once for every part of a search, analysed as an index built with `settings`
    analyses text (its `stemmer` and `stop_words`; default: `BuildSettings()`'s). Pass the
    searched index's `manifest.settings`, so that query terms are the terms that index holds.

    Raises QuerySyntaxError only with `strict=True`, for a query that is not well formed;
    otherwise such a query is read as plain words and the returned `notes` say why.
    """
    settings = settings or _DEFAULT_SETTINGS
    analysis = (settings.stemmer, settings.stop_words)
    notes: list[str] = []
    typed = text
    if len(text) > MAX_QUERY_CHARS:
        if strict:
            raise QuerySyntaxError(f"query {_shown(typed)} is {len(text):,} characters long (at most {MAX_QUERY_CHARS:,})")
        problem: str | None = f"is {len(text):,} characters long; only its first {MAX_QUERY_CHARS:,} were searched"
        text = _cut(text, MAX_QUERY_CHARS)
    else:
        # Every problem syntax_problem finds is made of quotes, brackets, colons or operators.
        problem = syntax_problem(text) if _may_hold_syntax(text) else None
    if problem is not None:
        if strict:
            raise QuerySyntaxError(f"query {_shown(typed)} {problem}")
        notes.append(f"read as plain words: the query {problem}")
        reading = plain_words(text)
    else:
        reading = _QUESTION_MARK.sub(" ", text)
        if not any(c.islower() for c in reading):
            reading = reading.lower()  # "SYRIA AND IRAQ": words, not operators
    plain = _plain_query(analysis, reading)
    if plain is not None:
        # Plain words (the common query): nothing to exclude, require or read as syntax.
        leaves = plain.subqueries if isinstance(plain, whoosh_query.Or) else [] if plain is whoosh_query.NullQuery else [plain]
        return ParsedQuery(
            text=typed, keyword=plain, constraint=None, excludes_only=False,
            embed_text=plain_words(reading) or plain_words(text),
            highlight=frozenset(term.text for term in leaves if term.fieldname in SEARCH_FIELDS),
            notes=tuple(notes), settings=settings,
        )
    tree = _parse(analysis, reading)
    if tree is None:  # whoosh's parser failed on a query that looked well formed
        if strict:
            raise QuerySyntaxError(f"query {_shown(typed)} cannot be read as syntax")
        notes.append("read as plain words: the query cannot be read as syntax")
        reading = plain_words(text)
        words = _parse(analysis, reading)
        tree = words if words is not None else whoosh_query.NullQuery
    tree = _exclusions_apply_to_all(tree.normalize())
    positive = _positive_terms(tree)
    excludes_only = tree is not whoosh_query.NullQuery and not positive and _has_negation(tree)
    if excludes_only:
        notes.append("the query only excludes words; add words to search for")
    constraint = tree if _is_boolean(tree) else None
    return ParsedQuery(
        text=typed,
        keyword=tree,
        constraint=constraint,
        excludes_only=excludes_only,
        embed_text=_embed_text(reading, tree, settings) or ("" if excludes_only else plain_words(text)),
        highlight=frozenset(term for field, term in positive if field in SEARCH_FIELDS),
        notes=tuple(notes),
        settings=settings,
    )


def _parse(analysis: tuple[str, str], reading: str) -> whoosh_query.Query | None:
    """`reading` as a whoosh query tree, not yet normalised, analysed with `analysis` (stemmer,
    stop list); None where whoosh's parser fails on it."""
    if not reading.strip():
        return whoosh_query.NullQuery
    try:
        # Repeated words count (query term frequency, as in Lucene and bm25s): whoosh's
        # normalisation would drop them, so they are counted before it.
        tree = _plain_tree(analysis, reading)
        return count_repeated_terms(tree if tree is not None else _parser(*analysis).parse(reading, normalize=False))
    except (AssertionError, IndexError, KeyError, ValueError, TypeError, AttributeError) as err:
        # whoosh's parser has corners that raise ("NOT NOT x" was one): the query is then read
        # as plain words. An error raised outside whoosh is a bug of ours and propagates.
        frames = traceback.extract_tb(err.__traceback__)
        if frames and "whoosh" in frames[-1].filename:
            return None
        raise


def _may_hold_syntax(text: str) -> bool:
    """Whether whoosh's parser could read anything in `text` as syntax (False: plain words)."""
    return bool(_MAYBE_SYNTAX.search(text) or _OPERATOR.search(text))


def _plain_tree(analysis: tuple[str, str], reading: str) -> whoosh_query.Query | None:
    """The tree `_parser(*analysis).parse(reading, normalize=False)` returns, built without
    whoosh's parser when `reading` is plain words (None when it may hold syntax: then the parser
    reads it).

    whoosh's parser tries each of its taggers at every character of the query, which cost
    several times all the rest of reading the common query (a few plain words). Words without
    syntax go through the same steps with none of that: each word is analysed by its
    field's analyzer as the parser's term query does (several tokens are OR-ed, no token leaves
    an empty clause), one OR group per word across the search fields, all in one OR group, with
    the parser's character offsets. tests/test_query_fast_path.py holds the two to equal trees.
    """
    if _may_hold_syntax(reading):
        return None
    spans = [match.span() for match in _WORD_SPAN.finditer(reading)]
    if not spans:
        return None
    words: list[whoosh_query.Query] = []
    for start, end in spans:
        per_field = []
        for fieldname in SEARCH_FIELDS:
            texts = _word_terms(analysis, fieldname, reading[start:end])
            if len(texts) > 1:  # the field's multitoken_query "default": the parser's group, OR
                term: whoosh_query.Query = whoosh_query.Or([whoosh_query.Term(fieldname, t) for t in texts])
            elif texts:
                term = whoosh_query.Term(fieldname, texts[0])
            else:
                continue  # a stop word: no clause
            term.startchar, term.endchar = start, end
            per_field.append(term)
        group = whoosh_query.Or(per_field)
        if per_field:  # whoosh gives offsets to non-empty clauses only
            group.startchar, group.endchar = start, end
        words.append(group)
    tree = whoosh_query.Or(words)
    tree.startchar, tree.endchar = spans[0][0], spans[-1][1]
    return tree


def _plain_query(analysis: tuple[str, str], reading: str) -> whoosh_query.Query | None:
    """What `_parse` gives for plain words, normalised (`.normalize()`), built directly: a flat
    OR of the words' terms in order (repeats counted by `count_repeated_terms`), one term alone,
    or NullQuery when every word is a stop word; None when `reading` may hold syntax or has no
    words (then `_parse` reads it).

    whoosh's normalisation flattens the parser's OR of one group a word by copying each term
    (a Python copy a term, ~a third of reading a plain query); the terms here are made as
    `_plain_tree` makes them, offsets and all. tests/test_query_fast_path.py holds the two equal.
    """
    if _may_hold_syntax(reading):
        return None
    leaves: list[whoosh_query.Term] = []
    words = False
    for match in _WORD_SPAN.finditer(reading):
        words = True
        start, end = match.span()
        for fieldname in SEARCH_FIELDS:
            texts = _word_terms(analysis, fieldname, match.group())
            if len(texts) == 1:  # a word's one term keeps the word's offsets, as the parser's does
                term = whoosh_query.Term(fieldname, texts[0])
                term.startchar, term.endchar = start, end
                leaves.append(term)
            else:  # a word of several tokens ("military-technical"): its terms have none
                leaves += [whoosh_query.Term(fieldname, text) for text in texts]
    if not words:
        return None
    tree = count_repeated_terms(whoosh_query.Or(leaves))
    if not tree.subqueries:
        return whoosh_query.NullQuery
    if len(tree.subqueries) == 1:
        return tree.subqueries[0]
    return tree


def _cut(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, shortened to the last whole word when it has one."""
    cut = text[:limit]
    if not text[limit].isspace() and any(c.isspace() for c in cut):
        cut = cut.rsplit(None, 1)[0]
    return cut


def _shown(text: str) -> str:
    """`text` quoted for a message: a long query is shown by its start."""
    return repr(text) if len(text) <= 80 else repr(text[:80]) + "..."


def with_extra_words(parsed: ParsedQuery, words: str, boost: float) -> whoosh_query.Query:
    """`parsed`'s keyword tree that also ranks by `words` (plain words, e.g. the countries of a
    region the query names) at weight `boost`; the query's own requirements and exclusions stay
    as they are. A query whose words are required (AND) is left unchanged."""
    if not words.strip() or parsed.keyword is whoosh_query.NullQuery:
        return parsed.keyword
    extra = _parser(parsed.settings.stemmer, parsed.settings.stop_words).parse(plain_words(words))
    if extra is whoosh_query.NullQuery:
        return parsed.keyword
    extra = extra.with_boost(boost)
    tree = parsed.keyword
    if isinstance(tree, whoosh_query.AndNot):
        if _is_boolean(tree.a):
            return tree
        return whoosh_query.AndNot(whoosh_query.Or([tree.a, extra]), tree.b)
    if parsed.constraint is not None:
        return tree
    return whoosh_query.Or([tree, extra])


def syntax_problem(text: str) -> str | None:
    """Why `text` is not a well-formed query (a phrase to follow 'the query'), or None."""
    if text.count('"') % 2:
        return "has an unclosed quote"
    depth = deepest = 0
    for char in re.sub(r'"[^"]*"', " ", text):
        depth += (char == "(") - (char == ")")
        deepest = max(deepest, depth)
        if depth < 0:
            break
    if depth:
        return "has unbalanced brackets"
    if deepest > MAX_QUERY_DEPTH:
        return f"nests brackets {deepest} deep (at most {MAX_QUERY_DEPTH} are read as syntax)"
    for match in _FIELD_PREFIX.finditer(re.sub(r'"[^"]*"', " ", text)):
        if match.group(1) not in QUERY_FIELDS:
            return f"names a field {match.group(1)!r} that does not exist (fields: {', '.join(QUERY_FIELDS)})"
    if any(c.islower() for c in text):
        unquoted = re.sub(r'"[^"]*"', " x ", _QUESTION_MARK.sub(" ", text))
        words = unquoted.replace("(", " ").replace(")", " ").split()
        operators = [i for i, word in enumerate(words) if _OPERATOR.fullmatch(word)]
        if operators and (operators[0] == 0 and words[0] != "NOT" or operators[-1] == len(words) - 1):
            return "starts or ends with an operator"
        # "AND NOT" is one exclusion and "NOT (NOT x)" a double one; "AND OR" is not syntax, nor
        # is "NOT NOT" (whoosh's parser fails on it).
        if any(b == a + 1 and words[b] != "NOT" for a, b in zip(operators, operators[1:])) or _DOUBLE_NOT.search(unquoted):
            return "has two operators in a row"
        if len(operators) > MAX_QUERY_OPERATORS:
            return f"has {len(operators)} operators (at most {MAX_QUERY_OPERATORS} are read as syntax)"
    return None


def plain_words(text: str) -> str:
    """`text` as plain words: no field prefixes, quotes, brackets, operators or wildcards."""
    words = _FIELD_PREFIX.sub(r"\1 ", text)
    words = _OPERATOR.sub(" ", words)
    return " ".join(re.sub(r"[\"()?*:^~\[\]{}]", " ", words).split())


@lru_cache(maxsize=16_384)
def _word_terms(analysis: tuple[str, str], fieldname: str, word: str) -> tuple[str, ...]:
    """The terms the parser's term query makes of `word` in `fieldname`: the field's analysis in
    query mode. Cached: a query's words recur across searches.

    The search fields are analysed by `keyword_analyzer`, whose tokens, lower case, stop list
    and stemmer the snippets' `Analysis` applies without whoosh's chain of generators (~4 us a
    token), with one cache of stemmed words for the query's and its hits' words alike: a new
    query's words are stemmed once (tests/test_query_fast_path.py holds it to whoosh's
    `process_text` in query mode). Any other field is analysed by whoosh."""
    if fieldname in SEARCH_FIELDS:
        settings = BuildSettings(stemmer=analysis[0], stop_words=analysis[1])
        return tuple(term for _start, _end, term in analysis_of(settings).tokens(word))
    field = _parser(*analysis).schema[fieldname]
    return tuple(field.process_text(word, mode="query", tokenize=True, removestops=True))


@lru_cache(maxsize=8)
def _parser(stemmer: str, stop_words: str) -> MultifieldParser:
    # whoosh's parser is built from the schema's field names and analyzers, the same for every
    # index built with this stemmer and stop list, so one parser serves all of them. Parsing
    # builds new objects and keeps no state between calls, so it is shared between threads.
    parser = MultifieldParser(list(SEARCH_FIELDS), keyword_schema(stemmer=stemmer, stop_words=stop_words), group=OrGroup)
    # whoosh's two-clause operators build each side twice, so a chain of n of them took 2**n
    # steps (20 ANDMAYBE: 70 s); these groups build each side once and read the same.
    operators = OperatorsPlugin()  # whoosh's operators, their patterns and order unchanged
    for tagger, _priority in operators.ops:
        tagger.grouptype = _BUILT_ONCE.get(tagger.grouptype, tagger.grouptype)
    parser.replace_plugin(operators)
    return parser


class _EachSideOnce(syntax.BinaryGroup):
    """A two-clause operator that builds each of its clauses once."""

    def query(self, parser):
        if len(self.nodes) != 2:
            return super().query(parser)  # whoosh's own, which refuses it
        a, b = (node.query(parser) for node in self.nodes)
        if a is None or b is None:
            found = b if a is None else a
            return attach(whoosh_query.NullQuery if found is None else found, self)
        return attach(self.qclass(a, b), self)


class _AndNotGroup(_EachSideOnce, syntax.AndNotGroup):
    pass


class _AndMaybeGroup(_EachSideOnce, syntax.AndMaybeGroup):
    pass


class _RequireGroup(_EachSideOnce, syntax.RequireGroup):
    pass


_BUILT_ONCE = {syntax.AndNotGroup: _AndNotGroup, syntax.AndMaybeGroup: _AndMaybeGroup, syntax.RequireGroup: _RequireGroup}


def _exclusions_apply_to_all(tree: whoosh_query.Query) -> whoosh_query.Query:
    """`tree` with every NOT applying to the whole query, as in Lucene and Elasticsearch.

    whoosh reads `oil NOT price` as "oil, or anything without price", and
    `military cooperation navies AND NOT iran` as excluding Iran only from the `navies` clause,
    so an article about Iran still matches through "military". An analyst who writes NOT means
    "never show me these": the excluded clauses are taken out of the tree and the positive rest
    is searched AND NOT any of them.
    """
    positive, excluded = _split_negations(tree)
    if not excluded:
        return tree
    exclusion = excluded[0] if len(excluded) == 1 else whoosh_query.Or(excluded)
    if positive is None:
        return whoosh_query.Not(exclusion)
    return whoosh_query.AndNot(positive, exclusion).normalize()


def _split_negations(node: whoosh_query.Query) -> tuple[whoosh_query.Query | None, list[whoosh_query.Query]]:
    """(the tree without its NOT clauses or None if nothing is left, the clauses NOT-ed)."""
    if isinstance(node, whoosh_query.Not):
        return None, [node.query]
    if isinstance(node, whoosh_query.AndNot):
        positive, excluded = _split_negations(node.a)
        return positive, excluded + [node.b]
    if node.is_leaf() or not isinstance(node, whoosh_query.compound.CompoundQuery):
        return node, []
    kept: list[whoosh_query.Query] = []
    excluded = []
    for child in node.subqueries:
        positive, found = _split_negations(child)
        excluded += found
        if positive is not None:
            kept.append(positive)
    if not excluded:
        return node, []
    if not kept:
        return None, excluded
    rebuilt = copy.copy(node)
    rebuilt.subqueries = kept
    return rebuilt.normalize(), excluded


def _walk_positive(node: whoosh_query.Query, negated: bool = False):
    """(node, negated) for every node, where negated means it sits under a NOT."""
    yield node, negated
    if isinstance(node, whoosh_query.Not):
        yield from _walk_positive(node.query, not negated)
    elif isinstance(node, whoosh_query.AndNot):
        yield from _walk_positive(node.a, negated)
        yield from _walk_positive(node.b, not negated)
    elif isinstance(node, whoosh_query.AndMaybe):
        yield from _walk_positive(node.a, negated)
        yield from _walk_positive(node.b, negated)
    elif node.is_leaf():
        return
    else:
        for child in node.children():
            yield from _walk_positive(child, negated)


def _positive_terms(tree: whoosh_query.Query) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for node, negated in _walk_positive(tree):
        if negated:
            continue
        if isinstance(node, whoosh_query.Term):
            text = node.text.decode() if isinstance(node.text, bytes) else str(node.text)
            found.add((node.fieldname, text))
        elif isinstance(node, whoosh_query.Phrase):
            found.update((node.fieldname, str(word)) for word in node.words)
        elif node.is_leaf() and hasattr(node, "text"):  # prefixes, wildcards
            found.add((node.fieldname, str(node.text)))
    return found


def _has_negation(tree: whoosh_query.Query) -> bool:
    return any(negated for _node, negated in _walk_positive(tree))


def _is_boolean(tree: whoosh_query.Query) -> bool:
    return any(isinstance(node, _BOOLEAN) for node, _negated in _walk_positive(tree))


def _embed_text(reading: str, tree: whoosh_query.Query, settings: BuildSettings) -> str:
    """The words the semantic leg embeds: the reading's plain words less the excluded ones (each
    word analysed as the index built with `settings` analyses it)."""
    excluded = {
        str(node.text)
        for node, negated in _walk_positive(tree)
        if negated and isinstance(node, whoosh_query.Term)
    }
    if not excluded:
        return plain_words(reading)
    from search.snippets import terms

    kept = [word for word in plain_words(reading).split() if not terms(word, settings) & excluded]
    return " ".join(kept)
