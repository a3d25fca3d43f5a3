"""The PostgreSQL store: an index in a PostgreSQL database (with pgvector) instead of a folder.

The same Engine API and build pipeline run over it: `Engine.open("postgresql://...")`,
`build(paths, "postgresql://...")`, `accord index/search --db URL`. Modules: `connection`
(URLs, redaction, connecting), `schema` (versioned tables and migrations), `docstore` (articles,
passages, source files), `vectors` (pgvector), `keyword` (BM25F computed in SQL over a postings
table), `transaction` (the write transaction: a table lock only writers may take, one database
transaction per published batch) and `local_server` (`accord db`'s local PostgreSQL, and the
throwaway ones of the tests and benchmarks).
"""
