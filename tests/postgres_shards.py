"""A sketch kept for its test (tests/test_postgres_shards.py), not part of the product: search over shards: a coordinator database that sees several shard databases through
postgres_fdw and ranks as one server holding all their articles would, in both legs.

Each shard is an ordinary Accord database holding part of the articles (written by
`PgKeywordWriter`). `create_coordinator` gives the coordinator database an `accord` schema whose
keyword tables are views over the shards' tables, so `PgKeywordStore` runs on it unchanged:

- postings, documents and articles (for filters) are UNION ALL views over the shards' foreign tables; a term's WHERE
  clause (field and term, bound parameters) is pushed down to every shard (postgres_fdw's
  "Remote SQL"), so each shard reads only that term's postings;
- the statistics BM25 needs (N, field lengths, each term's document frequency) are global: they
  are kept on the coordinator as materialised views summed over the shards (`refresh_statistics`
  after the shards change), and the store sends them with each query as bound parameters. With
  each shard's own statistics instead, the same article scores differently on each shard and
  the merged ranking is not one server's.

The semantic leg: `accord.passages` is a UNION ALL view over the shards' passages, so
`PgVectorStore` runs on the coordinator unchanged. pgvector's operators are declared shippable
(the foreign servers' `extensions 'vector'` option), so each shard sorts its own passages by
distance to the query (postgres_fdw's "Remote SQL" has the ORDER BY) and the coordinator merges
the sorted streams (Merge Append) and keeps the top k: the nearest passages of one server.
A shard past the HNSW threshold answers from its own HNSW index.

Documents and passages are numbered across shards as (shard number - 1) x shards + shard + 1,
so articles written round-robin (article j to shard j mod n) keep one server's numbering, and
ties rank in the same order. A sketch of the production layout, not a sharded writer: the shards are written
separately and the coordinator only reads. The role in each shard's user mapping needs only
SELECT on the keyword tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

_TABLES = ("kw_docs", "kw_postings", "kw_terms", "kw_fields", "articles", "passages")


def create_coordinator(conn: psycopg.Connection, shard_urls: Sequence[str]) -> None:
    """Create, in `conn`'s database (which must not hold an Accord index), the foreign servers,
    user mappings and `accord` keyword views over `shard_urls`, in one transaction."""
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    count = len(shard_urls)
    with conn.transaction():
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgres_fdw")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")  # the passages' type, and its operators
        conn.execute("CREATE SCHEMA accord")
        postings, docs, terms, fields, articles, passages = [], [], [], [], [], []
        for i, url in enumerate(shard_urls):
            info = conninfo_to_dict(url)
            server, schema = sql.Identifier(f"accord_shard_{i}"), sql.Identifier(f"accord_shard_{i}")
            options = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(key), sql.Literal(str(info[key])))
                for key in ("host", "port", "dbname") if key in info
            )
            # Utility statements take no bound parameters: values are quoted by psycopg.sql.
            # extensions 'vector': pgvector's distance operators may run on the shard (pushed down).
            conn.execute(sql.SQL("CREATE SERVER {} FOREIGN DATA WRAPPER postgres_fdw "
                                 "OPTIONS ({}, fetch_size '10000', extensions 'vector')").format(server, options))
            login = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(key), sql.Literal(str(info[key])))
                for key in ("user", "password") if key in info
            )
            conn.execute(sql.SQL("CREATE USER MAPPING FOR CURRENT_USER SERVER {} OPTIONS ({})").format(server, login))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
            conn.execute(sql.SQL("IMPORT FOREIGN SCHEMA accord LIMIT TO ({}) FROM SERVER {} INTO {}").format(
                sql.SQL(", ").join(map(sql.Identifier, _TABLES)), server, schema))
            docnum = sql.SQL("(docnum - 1) * {} + {} AS docnum").format(sql.Literal(count), sql.Literal(i + 1))
            postings.append(sql.SQL("SELECT field, term, {}, weight, length, positions FROM {}.kw_postings").format(docnum, schema))
            docs.append(sql.SQL("SELECT {}, article_id, lengths FROM {}.kw_docs").format(docnum, schema))
            terms.append(sql.SQL("SELECT field, term, df, cf FROM {}.kw_terms").format(schema))
            fields.append(sql.SQL("SELECT field, docs, total_length FROM {}.kw_fields").format(schema))
            articles.append(sql.SQL("SELECT id, date, source, countries FROM {}.articles").format(schema))
            passage = sql.SQL("(id - 1) * {} + {} AS id").format(sql.Literal(count), sql.Literal(i + 1))
            passages.append(sql.SQL('SELECT {}, article_id, start, "end", embedding FROM {}.passages').format(passage, schema))
        union = sql.SQL(" UNION ALL ")
        conn.execute(sql.SQL("CREATE VIEW accord.kw_postings AS {}").format(union.join(postings)))
        conn.execute(sql.SQL("CREATE VIEW accord.kw_docs AS {}").format(union.join(docs)))
        # What search filters read (id, date, source, countries); the rest stays on the shards.
        conn.execute(sql.SQL("CREATE VIEW accord.articles AS {}").format(union.join(articles)))
        conn.execute(sql.SQL("CREATE VIEW accord.passages AS {}").format(union.join(passages)))
        conn.execute(sql.SQL(
            "CREATE MATERIALIZED VIEW accord.kw_terms AS SELECT field, term COLLATE \"C\" AS term, "
            "sum(df)::bigint AS df, sum(cf) AS cf FROM ({}) t GROUP BY 1, 2").format(union.join(terms)))
        conn.execute("CREATE UNIQUE INDEX kw_terms_key ON accord.kw_terms (field, term)")
        conn.execute(sql.SQL(
            "CREATE MATERIALIZED VIEW accord.kw_fields AS SELECT field, sum(docs)::bigint AS docs, "
            "sum(total_length) AS total_length FROM ({}) f GROUP BY field").format(union.join(fields)))


def refresh_statistics(conn: psycopg.Connection) -> None:
    """Re-read the global statistics from the shards (after they change)."""
    with conn.transaction():
        conn.execute("REFRESH MATERIALIZED VIEW accord.kw_terms")
        conn.execute("REFRESH MATERIALIZED VIEW accord.kw_fields")
