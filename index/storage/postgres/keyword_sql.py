"""whoosh query trees as SQL over the keyword tables, scored as whoosh scores them.

A search is two statements. `lookup` reads the statistics the tree needs (per-field totals, the
document frequency of each term, the terms each prefix, wildcard or range expands to) from
`accord.kw_fields` and `accord.kw_terms`; `compile_tree` then turns the tree into one SELECT of
(docnum, score) rows with those statistics bound as parameters. Every piece of SQL text comes
from this module; user text (terms, patterns, ids) only ever travels as a bound parameter.

Scores follow whoosh node by node (whoosh-reloaded 2.7.5, the version Accord pins):
- Term: BM25F with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)), over the posting's weight
  and the byte-quantised field length, average length = total / N; unscored fields (source,
  countries, date, id) score the posting's weight. A boost multiplies.
- Or sums the scores of the clauses that match, And sums and needs all; a compound of one clause
  is that clause, unboosted (whoosh hands its matcher up as it is).
- AndNot and Require keep the first clause's score; AndMaybe adds the second's where it matches;
  Not matches every other document with score 1; Every scores its boost.
- Phrase: the words in order, each next word 1..slop positions after the previous one (whoosh's
  SpanNear2 with mindist 1), scored as the sum of the words' term scores.
- Prefix, Wildcard, TermRange: one matching term scores as that term (unboosted); two, or any
  number under 1,024 on an index of more than 5,000 documents, score as the boosted sum of the
  terms; otherwise every match scores 1.0 (whoosh's unscored array union).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from whoosh import query as whoosh_query
from whoosh.fields import Schema

from index.errors import QuerySyntaxError

if TYPE_CHECKING:
    import psycopg

# whoosh's Or: below this many clauses and above this many documents it unions scored matchers.
TOO_MANY_CLAUSES = 1024
ARRAY_UNION_DOCUMENTS = 5000

_MULTI_TERM = (whoosh_query.Prefix, whoosh_query.Wildcard, whoosh_query.TermRange)


def term_text(text: object) -> str:
    """A query or index term as stored: text, with any NUL (which PostgreSQL text cannot hold)
    replaced by U+FFFD on both sides, so such a term still matches itself."""
    value = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return value.replace("\x00", "\ufffd")


def like_escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern (backslash is PostgreSQL's default escape)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def glob_to_like(pattern: str) -> str:
    """A whoosh wildcard (`*` any run, `?` one character) as a LIKE pattern; every other
    character, `[` included, is literal."""
    return "".join("%" if c == "*" else "_" if c == "?" else like_escape(c) for c in pattern)


@dataclass
class Statistics:
    """What scoring a tree needs from the index: N, per-field totals, document frequencies and
    the expansion of each multi-term node (by its position in the walk)."""

    documents: int = 0
    total_length: dict[str, float] = field(default_factory=dict)
    df: dict[tuple[str, str], int] = field(default_factory=dict)
    expansions: dict[int, list[str]] = field(default_factory=dict)


def _walk(tree: whoosh_query.Query):
    """Every node of `tree`, parents before children, in a fixed order."""
    yield tree
    if isinstance(tree, whoosh_query.compound.CompoundQuery):  # BinaryQuery is one too
        for sub in tree.subqueries:
            yield from _walk(sub)
    elif isinstance(tree, whoosh_query.Not):
        yield from _walk(tree.query)


def _pattern_sql(node: whoosh_query.Query, schema: Schema) -> tuple[str, list] | None:
    """The condition on `term` (and its parameters) that selects a multi-term node's terms."""
    if isinstance(node, whoosh_query.TermRange):
        conditions, params = [], []
        if node.start is not None:
            conditions.append("term > %s" if node.startexcl else "term >= %s")
            params.append(term_text(node.start))
        if node.end is not None:
            conditions.append("term < %s" if node.endexcl else "term <= %s")
            params.append(term_text(node.end))
        return " AND ".join(conditions) or "true", params
    if isinstance(node, whoosh_query.Prefix):
        return "term LIKE %s", [like_escape(term_text(node.text)) + "%"]
    if isinstance(node, whoosh_query.Wildcard):
        return "term LIKE %s", [glob_to_like(term_text(node.text))]
    return None


def _is_every(node: whoosh_query.Query) -> bool:
    """Whether whoosh runs `node` as Every (`*`, a Prefix of nothing)."""
    return isinstance(node, whoosh_query.Every) or (
        isinstance(node, (whoosh_query.Prefix, whoosh_query.Wildcard))
        and term_text(node.text) == ("" if isinstance(node, whoosh_query.Prefix) else "*")
    )


def lookup(conn: psycopg.Connection, tree: whoosh_query.Query, schema: Schema) -> Statistics:
    """The statistics `tree` needs, read in one statement."""
    wanted: set[tuple[str, str]] = set()
    parts = ["SELECT -1, field, NULL::text, docs::float8, total_length FROM accord.kw_fields"]
    params: list = []
    for position, node in enumerate(_walk(tree)):
        name = getattr(node, "fieldname", None)
        if not isinstance(name, str) or name not in schema:
            continue
        if isinstance(node, whoosh_query.Term):
            wanted.add((name, term_text(node.text)))
        elif isinstance(node, whoosh_query.Phrase):
            wanted.update((name, term_text(word)) for word in node.words)
        elif isinstance(node, _MULTI_TERM) and not _is_every(node):
            found = _pattern_sql(node, schema)
            if found is not None:
                condition, values = found
                parts.append(f"SELECT %s::int, field, term, df::float8, NULL::float8 FROM accord.kw_terms WHERE field = %s AND {condition}")
                params += [position, name, *values]
    if wanted:
        fields, terms = zip(*sorted(wanted))
        parts.append("SELECT -2, t.field, t.term, t.df::float8, NULL::float8 FROM accord.kw_terms t "
                     "JOIN unnest(%s::text[], %s::text[]) AS w(field, term) "
                     "ON t.field = w.field AND t.term = w.term COLLATE \"C\"")
        params += [list(fields), list(terms)]
    stats = Statistics()
    for kind, name, term, value, total in conn.execute(" UNION ALL ".join(parts), params):
        if kind == -1:
            stats.documents = max(stats.documents, int(value))
            stats.total_length[name] = total
        elif kind == -2:
            stats.df[(name, term)] = int(value)
        else:
            stats.expansions.setdefault(kind, []).append(term)
            stats.df[(name, term)] = int(value)
    for expansion in stats.expansions.values():
        expansion.sort()  # whoosh expands in lexicon order
    return stats


@dataclass
class Fragment:
    """One SELECT of (docnum, score) rows and its parameters, in order."""

    sql: str
    params: list


class Compiler:
    """Turns one whoosh tree into SQL over the keyword tables, given its `Statistics`.

    Used once per search; not shared between threads.
    """

    def __init__(self, schema: Schema, stats: Statistics, k1: float, b: float, *, candidates: bool = False) -> None:
        self._schema = schema
        self._stats = stats
        self._k1, self._b = k1, b
        # Whether terms read only the postings of the documents in a CTE `candidates(docnums)`
        # (an array, textsearch.CANDIDATES_CTE); the statistics stay those of the whole index.
        self._candidates = candidates
        self._positions: dict[int, int] = {}

    def compile(self, tree: whoosh_query.Query) -> Fragment | None:
        """The SELECT of (docnum, score) that `tree` matches, or None when it matches nothing."""
        self._positions = {id(node): position for position, node in enumerate(_walk(tree))}
        return self._node(tree)

    # -- leaves --------------------------------------------------------------------------
    def _score(self, alias: str, name: str, text: str) -> tuple[str, list] | None:
        """The score expression of one term's posting row `alias`, or None if it has no postings."""
        n = self._stats.df.get((name, text), 0)
        if not n:
            return None
        if not self._schema[name].scorable:
            return f"{alias}.weight::float8", []
        total = self._stats.documents
        idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
        avgfl = (self._stats.total_length.get(name, 0.0) / (total or 1)) or 1
        b, k1 = self._b, self._k1
        # whoosh.scoring.bm25 in its order of operations: idf * ((tf * (K1 + 1)) / (tf + K1 * ((1 - B) + B * fl / avgfl)))
        sql = (f"%s * (({alias}.weight::float8 * %s) / ({alias}.weight::float8 + %s * (%s + %s * {alias}.length / %s)))")
        return sql, [idf, k1 + 1, k1, 1 - b, b, avgfl]

    def _term(self, name: str | None, text: object, boost: float) -> Fragment | None:
        if name is None or name not in self._schema:
            return None
        value = term_text(text)
        score = self._score("p", name, value)
        if score is None:
            return None
        expression, params = score
        if boost != 1.0:
            expression, params = f"({expression}) * %s", [*params, boost]
        if self._candidates:
            return Fragment(f"SELECT p.docnum, {expression} AS score FROM accord.kw_postings p WHERE p.field = %s "
                            "AND p.term = %s AND p.docnum = ANY((SELECT docnums FROM candidates)::bigint[])", [*params, name, value])
        return Fragment(f"SELECT p.docnum, {expression} AS score FROM accord.kw_postings p "
                        "WHERE p.field = %s AND p.term = %s", [*params, name, value])

    def _phrase(self, node: whoosh_query.Phrase) -> Fragment | None:
        name = node.fieldname
        if name not in self._schema or not node.words or not self._schema[name].format.supports("positions"):
            return None  # whoosh raises QueryError for a phrase on a field without positions
        words = [term_text(word) for word in node.words]
        scores, joins, params, join_params = [], [], [], []
        for i, word in enumerate(words):
            score = self._score(f"p{i}", name, word)
            if score is None:
                return None
            scores.append(score[0])
            params += score[1]
            if i:
                joins.append(f"JOIN accord.kw_postings p{i} ON p{i}.docnum = p0.docnum AND p{i}.field = %s AND p{i}.term = %s")
                join_params += [name, word]
        expression = " + ".join(f"({s})" for s in scores)
        if node.boost != 1.0:
            expression, params = f"({expression}) * %s", [*params, node.boost]
        # Some chain of positions a0 < a1 < ... with each step 1..slop (whoosh's SpanNear2).
        unnests = ", ".join(f"unnest(p{i}.positions) a{i}" for i in range(len(words)))
        steps = " AND ".join(f"a{i} - a{i - 1} BETWEEN 1 AND %s" for i in range(1, len(words))) or "true"
        sql = (f"SELECT p0.docnum, {expression} AS score FROM accord.kw_postings p0 {' '.join(joins)} "
               f"WHERE p0.field = %s AND p0.term = %s AND EXISTS (SELECT 1 FROM {unnests} WHERE {steps})")
        return Fragment(sql, [*params, *join_params, name, words[0], *[node.slop] * (len(words) - 1)])

    def _every(self, name: str | None, boost: float) -> Fragment:
        if name in (None, "", "*"):
            return Fragment("SELECT docnum, %s::float8 AS score FROM accord.kw_docs", [boost])
        return Fragment("SELECT DISTINCT docnum, %s::float8 AS score FROM accord.kw_postings WHERE field = %s",
                        [boost, name])

    def _multi_term(self, node: whoosh_query.Query) -> Fragment | None:
        if _is_every(node):
            return self._every(node.fieldname, node.boost)
        if node.fieldname not in self._schema:
            return None
        terms = [t for t in self._stats.expansions.get(self._positions[id(node)], []) if t]
        if not terms:
            return None
        if len(terms) == 1:
            return self._term(node.fieldname, terms[0], 1.0)
        scored = len(terms) < TOO_MANY_CLAUSES and (len(terms) == 2 or self._stats.documents > ARRAY_UNION_DOCUMENTS)
        if scored:
            return self._combine([self._term(node.fieldname, t, 1.0) for t in terms], node.boost, all_of=False)
        return Fragment("SELECT DISTINCT docnum, 1.0::float8 AS score FROM accord.kw_postings "
                        "WHERE field = %s AND term = ANY(%s)", [node.fieldname, terms])

    # -- structure -----------------------------------------------------------------------
    def _combine(self, parts: list[Fragment | None], boost: float, *, all_of: bool) -> Fragment | None:
        found = [p for p in parts if p is not None]
        if not found or (all_of and len(found) < len(parts)):
            return None
        union = " UNION ALL ".join(f"({p.sql})" for p in found)
        total = "sum(score)" if boost == 1.0 else "sum(score) * %s"
        having = " HAVING count(*) = %s" if all_of else ""
        sql = f"SELECT docnum, {total} AS score FROM ({union}) u GROUP BY docnum{having}"
        params = ([boost] if boost != 1.0 else []) + [x for p in found for x in p.params] + ([len(found)] if all_of else [])
        return Fragment(sql, params)

    def _node(self, node: whoosh_query.Query) -> Fragment | None:
        if node is whoosh_query.NullQuery or isinstance(node, whoosh_query.qcore._NullQuery):
            return None
        if type(node) is whoosh_query.Term:
            return self._term(node.fieldname, node.text, node.boost)
        if isinstance(node, whoosh_query.Phrase):
            return self._phrase(node)
        if isinstance(node, whoosh_query.Every):
            return self._every(node.fieldname, node.boost)
        if type(node) in _MULTI_TERM:
            return self._multi_term(node)
        if isinstance(node, whoosh_query.Not):
            inner = self._node(node.query)
            if inner is None:
                return Fragment("SELECT docnum, 1.0::float8 AS score FROM accord.kw_docs", [])
            return Fragment("SELECT docnum, 1.0::float8 AS score FROM accord.kw_docs "
                            f"WHERE docnum NOT IN (SELECT docnum FROM ({inner.sql}) n)", inner.params)
        if isinstance(node, (whoosh_query.AndNot, whoosh_query.Require, whoosh_query.AndMaybe)):
            return self._binary(node)
        if type(node) is whoosh_query.And or isinstance(node, whoosh_query.Or):
            if getattr(node, "scale", None):
                raise QuerySyntaxError("the PostgreSQL keyword store cannot score an OR with a coordination bonus")
            subs = list(node.subqueries)
            if not subs:
                return None
            if len(subs) == 1:
                return self._node(subs[0])  # whoosh hands a lone clause's matcher up unboosted
            return self._combine([self._node(s) for s in subs], node.boost, all_of=isinstance(node, whoosh_query.And))
        raise QuerySyntaxError(f"the PostgreSQL keyword store cannot run a {type(node).__name__} query")

    def _binary(self, node: whoosh_query.Query) -> Fragment | None:
        a, b = self._node(node.a), self._node(node.b)
        if a is None:
            return None
        if isinstance(node, whoosh_query.Require):
            if b is None:
                return None
            return Fragment(f"SELECT docnum, score FROM ({a.sql}) x WHERE docnum IN (SELECT docnum FROM ({b.sql}) y)",
                            a.params + b.params)
        if b is None:
            return a
        if isinstance(node, whoosh_query.AndNot):
            return Fragment(f"SELECT docnum, score FROM ({a.sql}) x WHERE docnum NOT IN (SELECT docnum FROM ({b.sql}) y)",
                            a.params + b.params)
        return Fragment(f"SELECT x.docnum, x.score + coalesce(y.score, 0) AS score FROM ({a.sql}) x "
                        f"LEFT JOIN ({b.sql}) y ON y.docnum = x.docnum", a.params + b.params)
