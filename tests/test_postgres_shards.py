"""Keyword search across two shard servers behind postgres_fdw ranks as one server does, because
the coordinator sends global BM25 statistics with each query; with each shard's own statistics
it would not."""

from __future__ import annotations

import pytest
from whoosh import query as Q

from index.filters import Filters
from index.storage.postgres.connection import connect
from index.storage.postgres.keyword import PgKeywordStore, PgKeywordWriter
from index.storage.postgres.local_server import LocalPostgres
from index.storage.postgres.schema import migrate
from search.query import parse_query
from tests.conftest import requires
from tests.postgres_shards import create_coordinator, refresh_statistics
from tests.test_postgres_keyword import (
    K1,
    QUERIES,
    TITLE_BOOST,
    B,
    _insert_articles,
    _seeds,
    _synthetic,
    _trees,
    assert_same_hits,
)

pytestmark = requires("postgres")


def _write(url: str, articles) -> None:
    with connect(url) as conn:
        migrate(conn)
        with conn.transaction():
            _insert_articles(conn, articles)
            writer = PgKeywordWriter(conn, TITLE_BOOST)
            for article in articles:
                writer.add(article)
            writer.commit()


@pytest.fixture(scope="module")
def shard_servers():
    servers = [LocalPostgres.start(), LocalPostgres.start()]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_two_shards_rank_as_one_server(shard_servers, postgres_server, pg_url):
    articles = _synthetic() + _seeds()
    _write(pg_url, articles)  # one server holding everything
    shard_urls = [s.url() for s in shard_servers]
    for i, url in enumerate(shard_urls):  # round-robin: article j on shard j mod 2
        _write(url, articles[i::2])
    postgres_server.sql("CREATE DATABASE coordinator OWNER accord")
    try:
        with connect(pg_url, autocommit=True) as one, connect(postgres_server.url(database="coordinator"), autocommit=True) as coord:
            create_coordinator(coord, shard_urls)
            refresh_statistics(coord)
            single, sharded = PgKeywordStore(one, K1, B), PgKeywordStore(coord, K1, B)
            compared = 0
            for text in QUERIES + ["military cooperation Libya", '"military cooperation"']:
                for tree in _trees(text):
                    for filters in (None, Filters(countries=("Libya",)), Filters(since="2012-01-01", sources=("Reuters",))):
                        expected = single.search(tree, 50, filters)
                        got = sharded.search(tree, 50, filters)
                        assert_same_hits(got, expected, 1e-9)
                        compared += bool(expected)
                    assert sharded.matching(tree) == single.matching(tree)
            assert compared > 50
            text = articles[1].title + " " + articles[1].body
            assert_same_hits(sharded.similar(text, 10), single.similar(text, 10), 1e-9)
            # The term's WHERE clause runs on the shards (pushed down), one remote scan per shard.
            plan = "\n".join(r[0] for r in coord.execute(
                "EXPLAIN VERBOSE SELECT docnum, weight FROM accord.kw_postings WHERE field = 'body' AND term = 'arm'"))
            assert plan.count("Remote SQL") == 2 and plan.count("((term = 'arm'))") == 2, plan
            # A shard's own statistics score its articles differently from the global ones.
            with connect(shard_urls[0], autocommit=True) as shard:
                local = dict(PgKeywordStore(shard, K1, B).search(parse_query("arms navy libya").keyword, 100))
            overall = dict(single.search(parse_query("arms navy libya").keyword, 200))
            assert any(abs(local[i] - overall[i]) > 1e-3 for i in local)
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS coordinator WITH (FORCE)")


def test_statistics_follow_the_shards_after_refresh(shard_servers, postgres_server, pg_url):
    articles = _synthetic()
    shard_urls = [s.url(database="second") for s in shard_servers]
    for server in shard_servers:
        server.sql("CREATE DATABASE second OWNER accord")
    _write(shard_urls[0], articles[:30])
    _write(shard_urls[1], articles[30:40])
    postgres_server.sql("CREATE DATABASE coordinator2 OWNER accord")
    try:
        with connect(postgres_server.url(database="coordinator2"), autocommit=True) as coord:
            create_coordinator(coord, shard_urls)
            refresh_statistics(coord)
            before = dict(PgKeywordStore(coord, K1, B).search(Q.Term("body", "navi"), 100))
            with connect(shard_urls[1]) as shard, shard.transaction():
                writer = PgKeywordWriter(shard, TITLE_BOOST)
                for article in articles[40:]:
                    writer.add(article)
                writer.commit()
            refresh_statistics(coord)
            after = dict(PgKeywordStore(coord, K1, B).search(Q.Term("body", "navi"), 100))
            assert set(before) < set(after)
            assert coord.execute("SELECT max(docs) FROM accord.kw_fields").fetchone()[0] == len(articles)
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS coordinator2 WITH (FORCE)")


DIM = 8


def _write_passages(url: str, vectors, start: int, step: int) -> None:
    """Articles start, start+step, ... of `vectors` with one passage each, numbered 1, 2, ... here."""
    import numpy as np
    from pgvector.psycopg import register_vector

    with connect(url) as conn:
        migrate(conn)
        register_vector(conn)
        with conn.transaction():
            for number, j in enumerate(range(start, len(vectors), step), start=1):
                conn.execute('INSERT INTO accord.passages (id, article_id, start, "end", embedding) VALUES (%s, %s, 0, 1, %s)',
                             (number, f"a{j}", np.asarray(vectors[j], dtype=np.float32)))


def test_the_vector_leg_over_two_shards_is_one_servers_and_runs_on_the_shards(shard_servers, postgres_server, pg_url):
    import numpy as np

    from index.storage.postgres.vectors import PgVectorStore

    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(300, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _write_passages(pg_url, vectors, 0, 1)  # one server: passage j + 1 is article j's
    shard_urls = [s.url(database="vectors") for s in shard_servers]
    for i, (server, url) in enumerate(zip(shard_servers, shard_urls, strict=True)):
        server.sql("CREATE DATABASE vectors OWNER accord")
        _write_passages(url, vectors, i, 2)  # round-robin: article j on shard j mod 2
    postgres_server.sql("CREATE DATABASE coordinator3 OWNER accord")
    try:
        with connect(pg_url, autocommit=True) as one, connect(postgres_server.url(database="coordinator3"), autocommit=True) as coord:
            create_coordinator(coord, shard_urls)
            single, sharded = PgVectorStore(one, DIM), PgVectorStore(coord, DIM)
            for query in rng.normal(size=(20, DIM)).astype(np.float32):
                query /= np.linalg.norm(query)
                assert_same_hits(sharded.search(query, 10), single.search(query, 10), 1e-6)
                allowed = list(range(1, 301, 3))  # a filter's passages, numbered as on one server
                assert_same_hits(sharded.search(query, 5, allowed), single.search(query, 5, allowed), 1e-6)
            assert np.allclose(sharded.vectors([5, 6]), vectors[[4, 5]])
            # Each shard orders its own passages by distance (the operator is pushed down) and
            # the coordinator merges the two sorted streams.
            plan = "\n".join(r[0] for r in coord.execute(
                f"EXPLAIN VERBOSE SELECT id FROM accord.passages ORDER BY embedding::vector({DIM}) <#> %s::vector({DIM}) LIMIT 10",
                (str(list(map(float, vectors[0]))),)))
            remote = [line for line in plan.splitlines() if "Remote SQL" in line]
            assert len(remote) == 2 and all("ORDER BY" in line and "<#>" in line for line in remote), plan
            assert "Merge Append" in plan, plan
    finally:
        postgres_server.sql("DROP DATABASE IF EXISTS coordinator3 WITH (FORCE)")
