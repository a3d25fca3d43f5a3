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
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache

from whoosh import query as whoosh_query
from whoosh.qparser import MultifieldParser, OrGroup

from index.errors import QuerySyntaxError
from index.storage.keyword import QUERY_FIELDS, SEARCH_FIELDS, count_repeated_terms, keyword_schema

_FIELD_PREFIX = re.compile(r"(?<![\w\"])([A-Za-z_]\w*):(?=\S)")
_OPERATOR = re.compile(r"\b(AND|OR|NOT|ANDNOT|ANDMAYBE)\b")
# A `?` is punctuation: whoosh would read it as a one-character wildcard, so "science?" would
# never match "science", stemmed or not.
_QUESTION_MARK = re.compile(r"\?")
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
    say how the query was read when it was not as typed.
    """

    text: str
    keyword: whoosh_query.Query
    constraint: whoosh_query.Query | None
    excludes_only: bool
    embed_text: str
    highlight: frozenset[str]
    notes: tuple[str, ...] = ()


def parse_query(text: str, *, strict: bool = False) -> ParsedQuery:
    """Parse `text` once for every part of a search.

    Raises QuerySyntaxError only with `strict=True`, for a query that is not well formed;
    otherwise such a query is read as plain words and the returned `notes` say why.
    """
    notes: list[str] = []
    problem = syntax_problem(text)
    if problem is not None:
        if strict:
            raise QuerySyntaxError(f"query {text!r} {problem}")
        notes.append(f"read as plain words: the query {problem}")
        reading = plain_words(text)
    else:
        reading = _QUESTION_MARK.sub(" ", text)
        if not any(c.islower() for c in reading):
            reading = reading.lower()  # "SYRIA AND IRAQ": words, not operators
    # Repeated words count (query term frequency, as in Lucene and bm25s): whoosh's
    # normalisation would drop them, so they are counted before it.
    tree = count_repeated_terms(_parser().parse(reading, normalize=False)) if reading.strip() else whoosh_query.NullQuery
    tree = _exclusions_apply_to_all(tree.normalize())
    positive = _positive_terms(tree)
    excludes_only = tree is not whoosh_query.NullQuery and not positive and _has_negation(tree)
    if excludes_only:
        notes.append("the query only excludes words; add words to search for")
    constraint = tree if _is_boolean(tree) else None
    return ParsedQuery(
        text=text,
        keyword=tree,
        constraint=constraint,
        excludes_only=excludes_only,
        embed_text=_embed_text(reading, tree) or ("" if excludes_only else plain_words(text)),
        highlight=frozenset(term for field, term in positive if field in SEARCH_FIELDS),
        notes=tuple(notes),
    )


def with_extra_words(parsed: ParsedQuery, words: str, boost: float) -> whoosh_query.Query:
    """`parsed`'s keyword tree that also ranks by `words` (plain words, e.g. the countries of a
    region the query names) at weight `boost`; the query's own requirements and exclusions stay
    as they are. A query whose words are required (AND) is left unchanged."""
    if not words.strip() or parsed.keyword is whoosh_query.NullQuery:
        return parsed.keyword
    extra = _parser().parse(plain_words(words))
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
    depth = 0
    for char in re.sub(r'"[^"]*"', " ", text):
        depth += (char == "(") - (char == ")")
        if depth < 0:
            break
    if depth:
        return "has unbalanced brackets"
    for match in _FIELD_PREFIX.finditer(re.sub(r'"[^"]*"', " ", text)):
        if match.group(1) not in QUERY_FIELDS:
            return f"names a field {match.group(1)!r} that does not exist (fields: {', '.join(QUERY_FIELDS)})"
    if any(c.islower() for c in text):
        words = re.sub(r'"[^"]*"', " x ", text).replace("(", " ").replace(")", " ").split()
        operators = [i for i, word in enumerate(words) if _OPERATOR.fullmatch(word)]
        if operators and (operators[0] == 0 and words[0] != "NOT" or operators[-1] == len(words) - 1):
            return "starts or ends with an operator"
        if any(b == a + 1 and words[b] != "NOT" for a, b in zip(operators, operators[1:])):
            return "has two operators in a row"
    return None


def plain_words(text: str) -> str:
    """`text` as plain words: no field prefixes, quotes, brackets, operators or wildcards."""
    words = _FIELD_PREFIX.sub(r"\1 ", text)
    words = _OPERATOR.sub(" ", words)
    return " ".join(re.sub(r"[\"()?*:^~\[\]{}]", " ", words).split())


@lru_cache(maxsize=1)
def _parser() -> MultifieldParser:
    # whoosh's parser is built from the schema's field names and analyzers, the same for every
    # index, so one parser serves all. Parsing builds new objects and keeps no state between
    # calls, so it is shared between threads.
    return MultifieldParser(list(SEARCH_FIELDS), keyword_schema(), group=OrGroup)


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


def _embed_text(reading: str, tree: whoosh_query.Query) -> str:
    """The words the semantic leg embeds: the reading's plain words less the excluded ones."""
    excluded = {
        str(node.text)
        for node, negated in _walk_positive(tree)
        if negated and isinstance(node, whoosh_query.Term)
    }
    if not excluded:
        return plain_words(reading)
    from search.snippets import terms

    kept = [word for word in plain_words(reading).split() if not terms(word) & excluded]
    return " ".join(kept)
