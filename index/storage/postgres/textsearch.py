"""Timescale's `pg_textsearch` as the keyword leg's candidate generator, where a server has it.

The keyword leg ranks by BM25F in SQL over whoosh's postings (keyword_sql.py), so that both
stores rank alike. Its cost grows with the postings of the query's terms. pg_textsearch is a
BM25 index access method (Block-Max WAND top-k): where it is installed and switched on (below),
the writer keeps one such index over each article's title and body (`accord.articles_bm25`), and
a plain query (terms on the body field, OR-ed, as every natural-language query, feedback
expansion and more-like-this is) first asks it for its best CANDIDATES articles, then scores
only those with the exact BM25F. The ranking is
the SQL one, restricted to the candidates: it equals the full ranking whenever the exact top
hits are among them (benchmarks/postgres/bench_postgres.py counts how often they are). When the index
matches fewer than CANDIDATES articles, they are not a top slice of anything (only those its
own tokenizer matched), so the full SQL runs; it does too for boolean queries, phrases, field
queries and wildcards.

Off unless `ACCORD_PG_TEXTSEARCH=on`: measured on this machine it does not pay. On 46,186
replicated Reuters articles (220,147 passages) the candidates cost 1-3 ms, but scoring 1,000 of
them exactly (a B-tree probe per candidate and term) costs about what reading the terms' whole
postings does: p50 1.0x the SQL alone in keyword and hybrid search, with the same top 10 in 80
and 26 of 100 queries (replicated texts tie, and the candidates change which copies the
keyword leg's deeper list holds; the index's tokenizer and single-field BM25 also miss some of
BM25F's best articles). Quality held on CISI and Cranfield (nDCG@10 within 0.0011, see
docs/performance.md, the PostgreSQL store). It is kept, tested and measurable
(`benchmarks/postgres/bench_pg_textsearch.py`) for archives whose postings lists are long enough for it
to pay, which were not measured.

pg_textsearch must be loaded at server start (`shared_preload_libraries = 'pg_textsearch'`);
with the switch on, `ensure_index` (run by every writer) creates the extension and the index
when it can and otherwise leaves the store as it is, and searches use an index that is there.
Nothing here keeps state: safe from any thread or process.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from whoosh import query as whoosh_query

from index.storage.postgres.keyword_sql import term_text

if TYPE_CHECKING:
    import psycopg

EXTENSION = "pg_textsearch"
INDEX = "accord.articles_bm25"
# The indexed expression; a query must repeat it exactly for PostgreSQL to use the index. `<` and
# `>` become spaces: PostgreSQL's parser drops `<TAB>` as a markup tag, where whoosh's analyzer
# (and so the exact ranking) reads the word "tab" (Reuters names companies' tickers so).
ARTICLE_TEXT = "translate(title || ' ' || body, '<>', '  ')"
# Articles the index proposes before the exact BM25F ranks them (see the docstring).
CANDIDATES = 1000
# The field a plain query's terms come from: whoosh's body field holds the title and the body,
# as the indexed text does (a title-only term would rank by a text it is not alone in).
TEXT_FIELD = "body"
SWITCH = "ACCORD_PG_TEXTSEARCH"


def switched_on() -> bool:
    """Whether ACCORD_PG_TEXTSEARCH=on asks for the index (writers create it, searches use it);
    off by default: measured, it does not pay here (see the module's docstring)."""
    return os.environ.get(SWITCH, "").strip().lower() in {"on", "1", "true", "yes"}


def available(conn: psycopg.Connection) -> bool:
    """Whether the server offers the extension (installed in its library folder)."""
    row = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = %s", (EXTENSION,)).fetchone()
    return bool(row and row[0])


def index_present(conn: psycopg.Connection) -> bool:
    """Whether the store has its pg_textsearch index."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (INDEX,)).fetchone()
    return bool(row and row[0])


def index_schema(conn: psycopg.Connection) -> str | None:
    """The schema holding the extension's operator and functions when the store has its index,
    else None. Searches name them with it: a reading role's search_path need not include it."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = %s AND to_regclass(%s) IS NOT NULL", (EXTENSION, INDEX),
    ).fetchone()
    return str(row[0]) if row else None


def ensure_index(conn: psycopg.Connection) -> str:
    """Create the extension and the index where the server allows it, inside the caller's open
    transaction (a failure is undone to a savepoint and leaves the store without the index).
    Returns what happened, in a few words, for the build's log."""
    if index_present(conn):
        return "present"
    if not available(conn):
        return "not available on this server"
    try:
        with conn.transaction():  # a savepoint inside the writer's transaction
            # In Accord's schema, which readers may use already (the read-only role of docs/guide.md);
            # where a DBA installed it elsewhere, that copy stays and `index_schema` finds it.
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION} SCHEMA accord")
            # Constant DDL: the expression must be the one `candidates_sql` orders by.
            conn.execute(f"CREATE INDEX articles_bm25 ON accord.articles USING bm25 ({ARTICLE_TEXT}) "
                         "WITH (text_config = 'english')")
    except Exception as err:  # noqa: BLE001 - any refusal (not preloaded, no privilege) keeps the store as it was
        return f"not created: {str(err).splitlines()[0]}"
    return "created"


def plain_terms(tree: whoosh_query.Query) -> list[str] | None:
    """The distinct term texts of `tree` when it is a plain query (Terms on the body field, OR-ed,
    positive boosts: what a natural-language query, its feedback expansion and more-like-this
    make); None for anything else, which the full SQL must run."""
    found: dict[str, None] = {}

    def walk(node: whoosh_query.Query) -> bool:
        if type(node) is whoosh_query.Term:
            if node.fieldname != TEXT_FIELD or node.boost <= 0:
                return False
            found[term_text(node.text)] = None
            return True
        if type(node) is whoosh_query.Or and not getattr(node, "scale", None):
            return all(walk(sub) for sub in node.subqueries)
        return False

    return list(found) if walk(tree) and found else None


def candidates_sql(
    terms: list[str], count: int, schema: str, condition: str = "true", params: list | None = None
) -> tuple[str, list]:
    """The SELECT of the ids of the `count` articles the index ranks best for `terms`, among
    those passing `condition` (on `accord.articles a`, with `params`), best first; `schema`:
    where the extension lives (`index_schema`).

    A statement of its own: nested in the search's statement (as a CTE joined to the keyword
    documents) PostgreSQL did not pass the LIMIT down to the index scan, which then cost ~50x
    as much (144 ms against 2.7 ms on 2,000 Reuters articles)."""
    quoted = '"' + schema.replace('"', '""') + '"'  # a name from the catalog, quoted as an identifier
    sql = (f"SELECT a.id FROM accord.articles a WHERE {condition} "
           f"ORDER BY {ARTICLE_TEXT} OPERATOR({quoted}.<@>) {quoted}.to_bm25query(%s, %s) LIMIT %s")
    return sql, [*(params or []), " ".join(terms), INDEX, count]


# The CTE the Compiler's candidate mode reads: the keyword documents of the candidate ids, as
# one array (a btree index scan takes `docnum = ANY(array)` as one search per term).
CANDIDATES_CTE = "candidates AS MATERIALIZED (SELECT array_agg(docnum) AS docnums FROM accord.kw_docs WHERE article_id = ANY(%s))"
