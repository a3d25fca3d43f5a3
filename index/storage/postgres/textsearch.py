"""Timescale's `pg_textsearch` as the keyword leg's candidate generator, where a server has it.

The keyword leg ranks by BM25F in SQL over whoosh's postings (keyword_sql.py), so that both
stores rank alike. Its cost grows with the postings of the query's terms. pg_textsearch is a
BM25 index access method (Block-Max WAND top-k): where it is installed, the writer keeps one
such index over each article's title and body (`accord.articles_bm25`), and a plain query (terms
OR-ed, as every natural-language query, feedback expansion and more-like-this is) first asks it
for its best CANDIDATES articles, then scores only those with the exact BM25F. The ranking is
the SQL one, restricted to the candidates: it equals the full ranking whenever the exact top
hits are among them (benchmarks/bench_postgres.py counts how often they are). Boolean
queries, phrases, field queries and wildcards always run the full SQL.

pg_textsearch must be loaded at server start (`shared_preload_libraries = 'pg_textsearch'`);
`ensure_index` creates the extension and the index when it can and otherwise leaves the store
as it is. `ACCORD_PG_TEXTSEARCH=off` turns its use off for searches (to compare, or to rule it
out) without touching the index. Nothing here keeps state: safe from any thread or process.
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
# The indexed expression; a query must repeat it exactly for PostgreSQL to use the index.
ARTICLE_TEXT = "(title || ' ' || body)"
# Articles the index proposes before the exact BM25F ranks them (see the docstring).
CANDIDATES = 1000
# The fields a plain query's terms may come from: those the indexed text holds.
TEXT_FIELDS = frozenset({"title", "body"})
SWITCH = "ACCORD_PG_TEXTSEARCH"


def switched_off() -> bool:
    """Whether ACCORD_PG_TEXTSEARCH=off asks searches not to use the index."""
    return os.environ.get(SWITCH, "").strip().lower() in {"off", "0", "false", "no"}


def available(conn: psycopg.Connection) -> bool:
    """Whether the server offers the extension (installed in its library folder)."""
    row = conn.execute("SELECT count(*) FROM pg_available_extensions WHERE name = %s", (EXTENSION,)).fetchone()
    return bool(row and row[0])


def index_present(conn: psycopg.Connection) -> bool:
    """Whether the store has its pg_textsearch index."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (INDEX,)).fetchone()
    return bool(row and row[0])


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
            conn.execute(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
            # Constant DDL: the expression must be the one `candidates_sql` orders by.
            conn.execute(f"CREATE INDEX articles_bm25 ON accord.articles USING bm25 ({ARTICLE_TEXT}) "
                         "WITH (text_config = 'english')")
    except Exception as err:  # noqa: BLE001 - any refusal (not preloaded, no privilege) keeps the store as it was
        return f"not created: {str(err).splitlines()[0]}"
    return "created"


def plain_terms(tree: whoosh_query.Query) -> list[str] | None:
    """The distinct term texts of `tree` when it is a plain query (Terms on the title or body
    field, OR-ed, positive boosts); None for anything else, which the full SQL must run."""
    found: dict[str, None] = {}

    def walk(node: whoosh_query.Query) -> bool:
        if type(node) is whoosh_query.Term:
            if node.fieldname not in TEXT_FIELDS or node.boost <= 0:
                return False
            found[term_text(node.text)] = None
            return True
        if type(node) is whoosh_query.Or and not getattr(node, "scale", None):
            return all(walk(sub) for sub in node.subqueries)
        return False

    return list(found) if walk(tree) and found else None


def candidates_sql(terms: list[str], count: int, condition: str = "true", params: list | None = None) -> tuple[str, list]:
    """A CTE `candidates(docnum)`: the keyword documents of the `count` articles the index ranks
    best for `terms`, among those passing `condition` (on `accord.articles a`, with `params`)."""
    sql = (f"candidates AS MATERIALIZED (SELECT k.docnum FROM (SELECT a.id FROM accord.articles a WHERE {condition} "
           f"ORDER BY {ARTICLE_TEXT} <@> to_bm25query(%s, %s) LIMIT %s) x "
           "JOIN accord.kw_docs k ON k.article_id = x.id)")
    return sql, [*(params or []), " ".join(terms), INDEX, count]
