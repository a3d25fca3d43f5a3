"""The keyword leg in PostgreSQL: whoosh's postings in tables, BM25F computed in SQL.

`PgKeywordWriter` indexes what the whoosh `KeywordWriter` indexes (the same schema, analyzer,
title repeats and field boost, through whoosh's own `field.index`), into `accord.kw_docs`,
`accord.kw_postings`, `accord.kw_terms` and `accord.kw_fields`, inside the caller's transaction.
`PgKeywordStore` answers the `KeywordStore` protocol by translating the whoosh query tree to SQL
(`keyword_sql`), so it ranks as the local store does: same ids, same order, scores equal to
float precision. One difference is on purpose: these tables always hold the exact statistics of
the live articles, so the scores are those of a whoosh index built in one commit from them;
whoosh's own drift with its history (deleted documents count until a merge, and a merge sums
byte-quantised field lengths instead of the exact ones).

PostgreSQL's own text ranking (`ts_rank_cd`) is not used: it is not BM25 and ranked TIME dev at
nDCG@10 0.41-0.49 against 0.76 for BM25 (issue #14). With ACCORD_PG_TEXTSEARCH=on and a store
that has Timescale's `pg_textsearch` BM25 index, plain queries take their candidates from it and
rank them with the same SQL BM25F (textsearch.py, opt-in: it did not pay here); `fast_path` says
which way a store searches.

Sharing: a writer or a store works on the one connection it is given, which belongs to the
caller (neither commits nor closes it). A writer is used by one thread. A store keeps no state
between calls and may be shared between threads, but psycopg runs one statement at a time per
connection, so for parallel searches give each thread its own connection and store.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

from whoosh import classify
from whoosh import query as whoosh_query
from whoosh.util.numeric import byte_to_length, length_to_byte

from index.errors import InvalidArgument
from index.filters import Filters
from index.storage.keyword import keyword_body, keyword_schema
from index.storage.postgres import textsearch
from index.storage.postgres.keyword_sql import Compiler, lookup, term_text
from index.text.articles import Article

if TYPE_CHECKING:
    import psycopg

FAST_PATH_SQL = "sql-bm25"
FAST_PATH_TEXTSEARCH = "pg_textsearch candidates, sql-bm25 scores"
# Articles buffered before they are copied to the server.
BATCH = 2000
# A B-tree entry holds at most ~2,700 bytes: a longer "word" (a run of letters with no space, as
# in a base64 blob) is counted in the field's length but gets no posting, so it cannot match.
MAX_TERM_BYTES = 1000


def fast_path_status(conn: psycopg.Connection, use_textsearch: bool) -> str:
    """How the store ranks, for `accord stats`: BM25F in SQL, with or without pg_textsearch's
    candidates, and why not where the server has the extension but the store does not use it."""
    if use_textsearch:
        return FAST_PATH_TEXTSEARCH
    if textsearch.index_present(conn):
        return f"{FAST_PATH_SQL} ({textsearch.EXTENSION} index present, not used without {textsearch.SWITCH}=on)"
    if textsearch.available(conn):
        return f"{FAST_PATH_SQL} ({textsearch.EXTENSION} available, no index: not used without {textsearch.SWITCH}=on)"
    return FAST_PATH_SQL


class PgKeywordWriter:
    """Adds and deletes articles in the keyword tables, inside the caller's open transaction.

    `add` buffers; the buffer is copied to the server (COPY) every BATCH articles, before a
    delete, and at `commit`. Totals (documents, field lengths, term frequencies) are updated
    with each copy and delete, so they are right whenever the caller commits. `cancel` drops the
    buffer; what was already sent is undone by the caller's rollback.
    """

    def __init__(self, conn: psycopg.Connection, title_boost: float) -> None:
        self._conn = conn
        self._schema = keyword_schema(title_boost)
        self._title_repeats = max(round(title_boost), 0)  # as KeywordWriter
        self._pending: list[tuple[str, dict[str, int], list[tuple[str, str, float, list[int] | None]]]] = []

    def add(self, article: Article) -> None:
        """Add one article (its id must not be in the index: delete it first to replace it)."""
        if "\x00" in article.id:
            raise InvalidArgument(f"article id {article.id!r} contains a NUL character, which PostgreSQL cannot store")
        values = {
            "id": article.id,
            "title": "" if article.title_is_derived else article.title,
            "body": keyword_body(article, self._title_repeats),
            "source": article.source or "",
            "countries": ",".join(article.countries),
            "date": article.date or "",
        }
        lengths: dict[str, int] = {}
        postings: list[tuple[str, str, float, list[int] | None]] = []
        for name in sorted(values):  # whoosh's add_document order
            field = self._schema[name]
            positional = field.format.supports("positions")
            length = 0
            for tbytes, freq, weight, vbytes in field.index(values[name]):
                length += freq
                if len(tbytes) > MAX_TERM_BYTES:
                    continue
                positions = list(field.format.decode_positions(vbytes)) if positional else None
                postings.append((name, term_text(tbytes), float(weight), positions))
            if field.scorable:
                lengths[name] = length
        self._pending.append((article.id, lengths, postings))
        if len(self._pending) >= BATCH:
            self._flush()

    def delete(self, article_ids: Iterable[str]) -> None:
        """Remove articles by id (ids not in the index are ignored)."""
        ids = [i for i in dict.fromkeys(article_ids) if "\x00" not in i]
        if not ids:
            return
        self._flush()
        conn = self._conn
        gone = conn.execute(
            "DELETE FROM accord.kw_docs WHERE article_id = ANY(%s) RETURNING docnum, lengths", (ids,)
        ).fetchall()
        if not gone:
            return
        touched = conn.execute(
            """WITH gone AS (DELETE FROM accord.kw_postings WHERE docnum = ANY(%s) RETURNING field, term, weight),
                    counts AS (SELECT field, term, count(*) AS n, sum(weight::float8) AS w FROM gone GROUP BY field, term)
               UPDATE accord.kw_terms t SET df = t.df - c.n, cf = t.cf - c.w FROM counts c
               WHERE t.field = c.field AND t.term = c.term RETURNING t.field, t.term, t.df""",
            ([docnum for docnum, _lengths in gone],),
        ).fetchall()
        empty = [(name, term) for name, term, df in touched if df <= 0]
        if empty:
            names, terms = zip(*empty)
            conn.execute(
                "DELETE FROM accord.kw_terms t USING unnest(%s::text[], %s::text[]) AS e(field, term) "
                "WHERE t.field = e.field AND t.term = e.term COLLATE \"C\"",
                (list(names), list(terms)),
            )
        totals: dict[str, float] = {}
        for _docnum, lengths in gone:
            for name, length in lengths.items():
                totals[name] = totals.get(name, 0) - length
        self._add_totals(-len(gone), totals)

    def commit(self) -> None:
        """Send what is buffered; the caller's transaction commits it."""
        self._flush()

    def cancel(self) -> None:
        """Drop what is buffered."""
        self._pending = []

    def _flush(self) -> None:
        if not self._pending:
            return
        docs, self._pending = self._pending, []
        conn = self._conn
        # Document numbers in the order added, as whoosh numbers them (ties rank by it).
        docnums = sorted(
            row[0] for row in conn.execute(
                "SELECT nextval(pg_get_serial_sequence('accord.kw_docs', 'docnum')) FROM generate_series(1, %s)",
                (len(docs),),
            )
        )
        lexicon: dict[tuple[str, str], list[float]] = {}
        totals: dict[str, float] = {}
        with conn.cursor() as cursor:
            with cursor.copy("COPY accord.kw_docs (docnum, article_id, lengths) FROM STDIN") as copy:
                for docnum, (article_id, lengths, _postings) in zip(docnums, docs):
                    copy.write_row((docnum, article_id, json.dumps(lengths)))
            with cursor.copy("COPY accord.kw_postings (field, term, docnum, weight, length, positions) FROM STDIN") as copy:
                for docnum, (_article_id, lengths, postings) in zip(docnums, docs):
                    # The length whoosh's scorer reads: stored as one byte, decoded.
                    quantised = {name: byte_to_length(length_to_byte(n)) for name, n in lengths.items()}
                    for name, term, weight, positions in postings:
                        copy.write_row((name, term, docnum, weight, quantised.get(name), positions))
                        entry = lexicon.setdefault((name, term), [0, 0.0])
                        entry[0] += 1
                        entry[1] += weight
                    for name, length in lengths.items():
                        totals[name] = totals.get(name, 0) + length
        if lexicon:
            keys = sorted(lexicon)  # one lock order for every writer (the write lock serialises them anyway)
            conn.execute(
                "INSERT INTO accord.kw_terms (field, term, df, cf) "
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::float8[]) "
                "ON CONFLICT (field, term) DO UPDATE SET df = accord.kw_terms.df + excluded.df, "
                "cf = accord.kw_terms.cf + excluded.cf",
                ([k[0] for k in keys], [k[1] for k in keys], [int(lexicon[k][0]) for k in keys], [lexicon[k][1] for k in keys]),
            )
        self._add_totals(len(docs), totals)

    def _add_totals(self, documents: int, lengths: dict[str, float]) -> None:
        names = list(self._schema.names())
        self._conn.execute(
            "INSERT INTO accord.kw_fields (field, docs, total_length) "
            "SELECT * FROM unnest(%s::text[], %s::bigint[], %s::float8[]) "
            "ON CONFLICT (field) DO UPDATE SET docs = accord.kw_fields.docs + excluded.docs, "
            "total_length = accord.kw_fields.total_length + excluded.total_length",
            (names, [documents] * len(names), [float(lengths.get(name, 0)) for name in names]),
        )


class PgKeywordStore:
    """A keyword store (index.storage.keyword.KeywordStore) over the keyword tables.

    Each search is two statements on the caller's connection: the statistics it needs, then one
    SELECT that matches, scores, filters and ranks. Safe to share between threads: it keeps no
    state between calls, and psycopg runs one statement at a time per connection, so searches
    from several threads take turns; for parallel searches give each thread its own connection
    (and store).
    """

    def __init__(
        self, conn: psycopg.Connection, bm25_k1: float = 1.2, bm25_b: float = 0.75, *,
        textsearch_schema: str | None = None, detect_textsearch: bool = True,
    ) -> None:
        """Plain queries take their candidates from the store's pg_textsearch index when
        `textsearch_schema` names the extension's schema (textsearch.index_schema), or, with
        `detect_textsearch` and no schema given, when ACCORD_PG_TEXTSEARCH=on and the server says
        the store has the index."""
        self._conn = conn
        self._k1, self._b = bm25_k1, bm25_b
        # Field boosts only change the weights written at indexing; the schema here gives the
        # fields' types (scored or not, with positions or not) and the analyzer.
        self._schema = keyword_schema()
        if textsearch_schema is None and detect_textsearch and textsearch.switched_on():
            textsearch_schema = textsearch.index_schema(conn)
        self._textsearch_schema = textsearch_schema
        self._fast_path: str | None = None

    @property
    def fast_path(self) -> str:
        """How this store ranks (for `accord stats`), asked of the server the first time."""
        if self._fast_path is None:
            self._fast_path = fast_path_status(self._conn, self._textsearch_schema is not None)
        return self._fast_path

    def hold(self) -> None:
        """Nothing to read ahead: the server keeps its tables' pages, and this store keeps
        nothing between searches."""

    def close(self) -> None:
        """Nothing to release: the connection belongs to the caller."""

    def article_ids(self) -> set[str]:
        """Every article id in the keyword tables (for consistency checks)."""
        return {row[0] for row in self._conn.execute("SELECT article_id FROM accord.kw_docs")}

    def problems(self) -> list[str]:
        """What is inconsistent in the keyword tables (empty when nothing): the document count,
        field lengths and term frequencies kept as totals, against the rows they summarise."""
        found = []
        row = self._conn.execute(
            "SELECT (SELECT count(*) FROM accord.kw_docs), (SELECT min(docs) FROM accord.kw_fields), "
            "(SELECT max(docs) FROM accord.kw_fields)"
        ).fetchone()
        documents, low, high = row if row else (0, None, None)
        if low is not None and not low == high == documents:
            found.append(f"accord.kw_fields counts {low}..{high} documents, accord.kw_docs holds {documents}")
        for name, kept, actual in self._conn.execute(
            "SELECT f.field, f.total_length, coalesce(sum((d.lengths ->> f.field)::float8), 0) "
            "FROM accord.kw_fields f LEFT JOIN accord.kw_docs d ON d.lengths ? f.field GROUP BY 1, 2"
        ):
            if abs(kept - actual) > 1e-6:
                found.append(f"accord.kw_fields total length of {name!r} is {kept}, its documents sum to {actual}")
        row = self._conn.execute(
            "SELECT count(*) FROM (SELECT field, term, count(*) AS n, sum(weight::float8) AS w "
            "FROM accord.kw_postings GROUP BY 1, 2) p FULL JOIN accord.kw_terms t USING (field, term) "
            "WHERE p.n IS DISTINCT FROM t.df OR abs(p.w - t.cf) > 1e-6 OR p.w IS NULL OR t.cf IS NULL"
        ).fetchone()
        if row and row[0]:
            found.append(f"{row[0]} terms of accord.kw_terms disagree with their postings")
        return found

    def search(
        self, query: whoosh_query.Query, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Article ids and BM25F scores, best first (equal scores in the order articles were
        added), among articles passing `filters` and, when given, among the `allowed` ids; empty
        when no indexed term matches."""
        # Scores equal in whoosh can differ in the last bits here (sums run in another order),
        # so ranks compare them to 1e-9 and break ties by document number, as whoosh does.
        rank = "ORDER BY round(r.score * 1e9) DESC, r.docnum"
        active = (filters is not None and filters.active) or allowed is not None
        condition, params = _filter_sql(filters) if filters is not None and filters.active else ("true", [])
        if allowed is not None:
            if not allowed:
                return []
            condition, params = f"({condition}) AND a.id = ANY(%s::text[])", [*params, sorted(allowed)]
        if active:
            sql = ("SELECT k.article_id, r.score FROM ({tree}) r JOIN accord.kw_docs k ON k.docnum = r.docnum "
                   f"JOIN accord.articles a ON a.id = k.article_id WHERE {condition} {rank} LIMIT %s")
        else:  # the best `limit` first, then their ids: ~20% faster at 20,000 articles
            sql = (f"SELECT k.article_id, r.score FROM (SELECT docnum, score FROM ({{tree}}) r {rank} LIMIT %s) r "
                   f"JOIN accord.kw_docs k ON k.docnum = r.docnum {rank}")
        schema = self._textsearch_schema
        terms = textsearch.plain_terms(query) if schema is not None else None
        candidates = None
        if terms is not None and schema is not None:
            candidates = textsearch.candidates_sql(terms, max(textsearch.CANDIDATES, limit), schema, condition, list(params))
        rows = self._run(query, sql, [*(params if active else []), limit], candidates)
        return [(article_id, float(score)) for article_id, score in rows]

    def matching(self, query: whoosh_query.Query) -> set[str]:
        """The ids of every article that `query` matches, scored or not."""
        rows = self._run(query, "SELECT k.article_id FROM ({tree}) r JOIN accord.kw_docs k ON k.docnum = r.docnum", [])
        return {row[0] for row in rows}

    def term_matches(self, terms: Sequence[str], among: Collection[str]) -> list[tuple[int, set[str]]]:
        """For each body-field term, how many articles hold it and which of `among` do."""
        found = []
        for term in terms:
            holding = self.matching(whoosh_query.Term("body", term))
            found.append((len(holding), holding.intersection(among)))
        return found

    def similar(
        self, text: str, limit: int, filters: Filters | None = None, allowed: AbstractSet[str] | None = None
    ) -> list[tuple[str, float]]:
        """Articles sharing the most distinctive terms of `text` (whoosh's more-like-this: the 25
        best terms by the Bo1 model, OR-ed and boosted by their weight), best first."""
        terms = self.expansion_terms([text], 25)
        if not terms:
            return []
        return self.search(whoosh_query.Or([whoosh_query.Term("body", t, boost=w) for t, w in terms]), limit, filters,
                           allowed)

    def expansion_terms(self, texts: Sequence[str], count: int) -> list[tuple[str, float]]:
        """The `count` body-field terms of `texts` that most set them apart from the store, with
        whoosh's Bo1 weights (largest first, the largest 1.0): what `similar` and pseudo-relevance
        feedback add to a query, computed from the SQL statistics as the whoosh store computes
        them from its own."""
        field = self._schema["body"]
        words = sorted({term_text(tbytes) for text in texts for tbytes, _f, _w, _v in field.index(text)})
        if not words:
            return []
        rows = self._conn.execute(
            "SELECT -1, NULL::text, docs::float8, total_length FROM accord.kw_fields WHERE field = 'body' "
            "UNION ALL SELECT 0, term, cf, NULL FROM accord.kw_terms WHERE field = 'body' AND term = ANY(%s)",
            (words,),
        ).fetchall()
        reader = _LexiconReader(self._schema, "body", rows)
        expander = classify.Expander(reader, "body", model=classify.Bo1Model)
        for text in texts:
            expander.add_text(text)
        return [(term, float(weight)) for term, weight in expander.expanded_terms(count, normalize=True)]

    def _run(
        self, query: whoosh_query.Query, wrap: str, params: list, candidates: tuple[str, list] | None = None
    ) -> list[tuple]:
        """The rows of `wrap` (SQL with `{tree}` where the tree's SELECT goes, then `params`)
        for `query`; [] when it matches nothing. With `candidates` (textsearch.candidates_sql's
        statement and parameters, the last the number asked for), the terms are scored on the
        articles it returns only, when it returns as many as asked for.

        Both statements read one snapshot, so a search never mixes the statistics before a
        writer's commit with the postings after it: on an autocommit connection with no
        transaction open they run in a read-only REPEATABLE READ transaction (otherwise in the
        caller's). Pipelined, that costs no extra round trip: BEGIN goes with the statistics,
        COMMIT with the search.
        """
        if query is whoosh_query.NullQuery:
            return []
        from psycopg.pq import TransactionStatus

        conn = self._conn
        own = conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE
        try:
            with conn.pipeline():
                if own:
                    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                proposed = conn.execute(*candidates) if candidates is not None else None
                stats = lookup(conn, query, self._schema)
                ids = [row[0] for row in proposed.fetchall()] if proposed is not None else []
                # Fewer than asked for: the index's own matches, not a top slice (textsearch.py).
                narrowed = candidates is not None and len(ids) == candidates[1][-1]
                fragment = Compiler(self._schema, stats, self._k1, self._b, candidates=narrowed).compile(query)
                cursor = None
                if fragment is not None:
                    sql, values = wrap.replace("{tree}", fragment.sql), [*fragment.params, *params]
                    if narrowed:
                        sql, values = f"WITH {textsearch.CANDIDATES_CTE} {sql}", [ids, *values]
                    cursor = conn.execute(sql, values)
                if own:
                    conn.execute("COMMIT")
                return cursor.fetchall() if cursor is not None else []
        finally:
            if own and conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")  # the search failed inside its snapshot


def _filter_sql(filters: Filters) -> tuple[str, list]:
    """The WHERE condition on `accord.articles a` that `filters` ask for, as the whoosh store
    applies them: every country, any source, the date within [since, until] (an undated article
    fails a date bound). Countries and source compare as whoosh's comma-separated, lower-cased
    KEYWORD fields hold them: split at commas, each piece trimmed."""
    conditions: list[str] = []
    params: list = []
    if filters.countries:
        conditions.append(
            "ARRAY(SELECT btrim(x) FROM unnest(string_to_array(lower(array_to_string(a.countries, ',')), ',')) x) @> %s::text[]"
        )
        params.append([term_text(c).lower() for c in filters.countries])
    if filters.sources:
        conditions.append("EXISTS (SELECT 1 FROM unnest(string_to_array(lower(a.source), ',')) x WHERE btrim(x) = ANY(%s::text[]))")
        params.append([term_text(s).lower() for s in filters.sources])
    if filters.since or filters.until:
        conditions.append("a.date >= %s AND a.date <= %s")
        params += [term_text(filters.since or "0000"), term_text(filters.until or "9999")]
    return " AND ".join(conditions) or "true", params


class _LexiconReader:
    """The part of a whoosh IndexReader that `whoosh.classify.Expander` reads (N, a field's total
    length, which terms exist and their collection frequency), from rows of kw_fields/kw_terms."""

    def __init__(self, schema, fieldname: str, rows: list) -> None:
        self.schema = schema
        self._fieldname = fieldname
        self._documents = 0
        self._total = 0.0
        self._frequency: dict[str, float] = {}
        for kind, term, value, total in rows:
            if kind == -1:
                self._documents, self._total = int(value), float(total)
            else:
                self._frequency[term] = float(value)

    def doc_count_all(self) -> int:
        return self._documents

    def field_length(self, fieldname: str) -> float:
        return self._total if fieldname == self._fieldname else 0.0

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        fieldname, btext = key
        return fieldname == self._fieldname and term_text(btext) in self._frequency

    def frequency(self, fieldname: str, btext: bytes) -> float:
        return self._frequency.get(term_text(btext), 0.0) if fieldname == self._fieldname else 0.0
