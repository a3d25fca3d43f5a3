"""The PostgreSQL keyword leg ranks as the whoosh store does: the same corpus indexed by both
writers, the same parsed queries, the same ids in the same order with the same scores."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from whoosh import query as Q

from index.errors import QuerySyntaxError
from index.filters import Filters
from index.storage.keyword import KeywordWriter, WhooshKeywordStore
from index.storage.postgres.connection import connect
from index.storage.postgres.keyword import FAST_PATH_SQL, PgKeywordStore, PgKeywordWriter
from index.storage.postgres.schema import migrate
from index.text.articles import Article, read_articles
from index.text.countries import article_countries
from search.query import parse_query, with_extra_words
from tests.conftest import SEEDS, requires

if TYPE_CHECKING:
    import psycopg

pytestmark = requires("postgres")

K1, B, TITLE_BOOST = 2.0, 0.75, 2.0

_WORDS = ["arms", "deal", "treaty", "navy", "exercise", "joint", "cooperation", "missile", "defence", "talks"]


def _synthetic() -> list[Article]:
    """Articles with repeated terms, titles (real and derived), phrases in and out of order,
    sources, countries and dates (some missing), and exact duplicates (ties)."""
    articles = []
    for i in range(60):
        words = [_WORDS[(i * 7 + j * 3) % len(_WORDS)] for j in range(5 + i % 9)]
        body = " ".join(words) + (" arms deal signed" if i % 4 == 0 else " deal on arms") + f" item{i % 5}"
        if i % 6 == 0:
            body += " the the of and " + "missile " * (i % 5)
        articles.append(Article(
            id=f"s{i:02d}", title=("Arms deal with " + ["Libya", "Egypt", "India"][i % 3]) if i % 2 else body[:30],
            body=body, date=None if i % 10 == 3 else f"20{10 + i % 12:02d}-0{1 + i % 9}-15",
            source=["Reuters", "BBC", "TASS", None][i % 4], url=None, path=f"s{i}.txt",
            countries=(("Libya", "Egypt"), ("India",), (), ("Libya",))[i % 4], title_derived=i % 2 == 0,
        ))
    articles.append(replace(articles[4], id="s_dup"))  # the same text as s04: equal scores
    articles.append(Article(id="odd'; DROP TABLE accord.kw_docs; --", title="Quote \\ backslash",
                            body="Weird id article about arms and the navy, café naïve Zürich 北京",
                            date="2015-05-05", source="Odd, Source", url=None, path="odd.txt", countries=("China",)))
    return articles


def _seeds() -> list[Article]:
    found = []
    for path in sorted(SEEDS.iterdir()):
        for item in read_articles(path, path.read_bytes()):
            if isinstance(item, Article):
                found.append(replace(item, countries=tuple(article_countries(item.title, item.body))))
    return found


def _insert_articles(conn: psycopg.Connection, articles: list[Article]) -> None:
    """The rows of accord.articles the filters join (the docstore writes them in a build)."""
    for a in articles:
        conn.execute(
            "INSERT INTO accord.articles (id, title, body, date, source, path, countries, content_hash, file, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (a.id, a.title, a.body, a.date, a.source, a.path, list(a.countries), a.content_hash, a.path, b""),
        )


def assert_same_hits(got: list[tuple[str, float]], expected: list[tuple[str, float]], tolerance: float = 1e-4) -> None:
    """The same ids in the same order, scores within `tolerance`."""
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=tolerance)


class Pair:
    """One corpus in a whoosh index and in a PostgreSQL database.

    whoosh's statistics depend on its merge history (deleted documents count until a merge, and
    a merge sums the byte-quantised field lengths instead of the exact ones), while the tables
    always hold the exact statistics of the live articles. So the reference is what a fresh
    build gives: a whoosh index written in one commit from the live articles, in the order they
    were added (the order that breaks ties).
    """

    def __init__(self, directory: Path, conn: psycopg.Connection) -> None:
        self.directory = directory
        self.conn = conn
        self.live: dict[str, Article] = {}
        self.whoosh: WhooshKeywordStore | None = None
        self.pg = PgKeywordStore(conn, K1, B)
        self._builds = 0

    def add(self, articles: list[Article], delete: list[str] = ()) -> None:  # type: ignore[assignment]
        for article_id in delete:
            self.live.pop(article_id, None)
        self.live.update((a.id, a) for a in articles)
        self._builds += 1
        fresh = self.directory / str(self._builds)
        whoosh_writer = KeywordWriter(fresh, TITLE_BOOST)
        for a in self.live.values():
            whoosh_writer.add(a)
        whoosh_writer.commit()
        with self.conn.transaction():
            self.conn.execute("DELETE FROM accord.articles WHERE id = ANY(%s)", (list(delete),))
            _insert_articles(self.conn, articles)
            writer = PgKeywordWriter(self.conn, TITLE_BOOST)
            writer.delete(delete)
            for a in articles:
                writer.add(a)
            writer.commit()
        if self.whoosh is not None:
            self.whoosh.close()
        self.whoosh = WhooshKeywordStore(fresh, K1, B)

    def assert_same(self, query: Q.Query, filters: Filters | None = None, limit: int = 200) -> list[tuple[str, float]]:
        assert self.whoosh is not None
        expected = self.whoosh.search(query, limit, filters)
        got = self.pg.search(query, limit, filters)
        assert [i for i, _ in got] == [i for i, _ in expected], f"{query!r} {filters}"
        for (_, want), (_, have) in zip(expected, got):
            assert have == pytest.approx(want, abs=1e-4), repr(query)
        assert self.pg.matching(query) == self.whoosh.matching(query), repr(query)
        return got


@pytest.fixture
def pair(pg_url, tmp_path):
    with connect(pg_url) as conn:
        migrate(conn)
        yield Pair(tmp_path / "kw", conn)


QUERIES = [
    "arms", "arms deal", "arms arms deal navy navy navy", '"arms deal"', '"deal arms"', '"arms deal signed"',
    "arms AND navy", "arms OR navy", "arms NOT navy", "NOT navy", "arms AND NOT libya", "(arms OR treaty) AND joint",
    "title:arms", "title:libya OR body:navy", "source:reuters", "countries:libya", "countries:libya arms",
    "date:2015-05-05", "date:[2012 TO 2015]", "arm*", "mis*", "item*", "de*", "t*", "*ea*", "coop*r", "*", "coop*ion", "nav?", "title:arm*",
    "arms^3 navy", '"missile missile"', '"arms deal"~3', "treaty ANDMAYBE navy", "missile^0.5 OR (deal AND talks)^2",
    "café zürich", "北京", "unknownword", "the of and", "",
]


def _trees(text: str) -> list[Q.Query]:
    parsed = parse_query(text)
    return [parsed.keyword, with_extra_words(parsed, "Libya Egypt", 0.3)]


@pytest.mark.parametrize("corpus", ["synthetic", "seeds"])
def test_rankings_equal_whoosh(pair, corpus):
    articles = _synthetic() if corpus == "synthetic" else _seeds()
    pair.add(articles)
    for text in QUERIES + ["military cooperation Libya", "Russia Iran navy", '"military cooperation"']:
        for tree in _trees(text):
            pair.assert_same(tree)
            pair.assert_same(tree, limit=3)
    # whoosh-made trees the parser does not write
    for tree in [Q.Require(Q.Term("body", "arm"), Q.Term("body", "navi")), Q.Every("title", boost=2.0),
                 Q.AndMaybe(Q.Term("body", "deal"), Q.Term("title", "libya")), Q.Or([Q.Term("body", "arm")], boost=5.0),
                 Q.Term("nosuchfield", "x"), Q.Prefix("body", "x", boost=4.0), Q.Term("id", articles[1].id)]:
        pair.assert_same(tree)


def test_filters_apply_inside_the_sql(pair):
    pair.add(_synthetic())
    filters = [
        Filters(countries=("Libya",)), Filters(countries=("Libya", "Egypt")), Filters(sources=("reuters", "TASS")),
        Filters(since="2012-01-01"), Filters(until="2014-12-31"), Filters(since="2013-01-01", until="2016-06-30"),
        Filters(countries=("India",), sources=("BBC",), since="2010-01-01"), Filters(sources=("odd, source",)), Filters(sources=(" Source",)), Filters(sources=("odd",)),
    ]
    for f in filters:
        for text in ["arms deal", "navy OR treaty", "NOT missile", '"arms deal"']:
            got = pair.assert_same(parse_query(text).keyword, f)
            assert got or text == '"arms deal"' or f.sources in (("odd, source",), (" Source",)), (text, f)


def test_similar_equals_whoosh_more_like_this(pair):
    articles = _synthetic()
    pair.add(articles)
    assert pair.whoosh is not None
    for a in articles[:8]:
        text = a.title + "\n" + a.body
        expected = pair.whoosh.similar(text, 10)
        got = pair.pg.similar(text, 10)
        assert_same_hits(got, expected)
    assert pair.pg.similar("", 10) == [] and pair.pg.similar("zzzz qqqq", 10) == []
    india = Filters(countries=("India",))
    got = pair.pg.similar(articles[1].body, 10, india)
    assert got and {i for i, _ in got} <= {a.id for a in articles if "India" in a.countries}
    assert_same_hits(got, pair.whoosh.similar(articles[1].body, 10, india))


def test_deletes_and_re_adds_keep_rankings_equal(pair):
    articles = _synthetic()
    pair.add(articles[:40])
    pair.add(articles[40:])
    changed = [replace(a, body=a.body + " navy navy treaty") for a in articles[5:15]]
    pair.add(changed, delete=[a.id for a in articles[5:15]] + ["never-indexed"])
    pair.add([], delete=[a.id for a in articles[30:50]])
    for text in QUERIES:
        for tree in _trees(text):
            pair.assert_same(tree)
    # Totals equal a fresh count: documents, field lengths and the lexicon.
    conn = pair.conn
    assert len(pair.pg.article_ids()) == len(articles) - 20 == len(pair.live)
    assert pair.pg.problems() == []
    conn.execute("UPDATE accord.kw_terms SET df = df + 1 WHERE term = 'arm'")
    conn.execute("UPDATE accord.kw_fields SET total_length = total_length + 3 WHERE field = 'body'")
    conn.execute("DELETE FROM accord.kw_docs WHERE article_id = %s", (articles[0].id,))
    problems = pair.pg.problems()
    assert len(problems) == 3 and "2 terms" in problems[2], problems


def test_a_cancelled_write_leaves_the_index_as_it_was(pair):
    articles = _synthetic()
    pair.add(articles[:10])
    before = pair.pg.search(parse_query("arms navy").keyword, 50)
    with pytest.raises(RuntimeError):
        with pair.conn.transaction():
            writer = PgKeywordWriter(pair.conn, TITLE_BOOST)
            writer.delete([articles[0].id])
            writer.add(articles[20])
            writer.commit()
            writer.add(articles[21])
            writer.cancel()
            raise RuntimeError("the build failed")
    assert pair.pg.search(parse_query("arms navy").keyword, 50) == before


def test_prefixes_score_as_whoosh_scores_them_above_5000_articles(pair):
    # whoosh ORs a prefix's terms unscored (1.0 each match) on small indexes but sums their BM25
    # scores on indexes of more than 5,000 documents; the compiled SQL follows the same rule.
    words = ["alpha", "alpine", "alps", "alto", "beta", "bet", "gamma"]
    pair.add([Article(id=f"d{i}", title="", body=" ".join(words[(i * k) % 7] for k in range(1, 2 + i % 5)),
                      date=None, source=None, url=None, path="x") for i in range(5001)])
    for text in ["al*", "alp*", "be*", "al* beta", "*a", "a*a", "al* OR be*^2", "NOT al*"]:
        pair.assert_same(parse_query(text).keyword, limit=50)
    assert pair.pg.search(parse_query("al*").keyword, 1)[0][1] > 1.0
    # (A boosted prefix, `al*^3`, is left out: whoosh's block-quality pruning then drops
    # documents that tie with its best one, which the SQL ranking does not copy.)


HOSTILE = [
    "'; DROP TABLE accord.kw_postings; --", '"\'; DROP TABLE accord.kw_docs; --"', "title:'); DELETE FROM accord.kw_terms; --",
    "back\\slash \\\\ \\", "100% _under_score%", "arm%", "a_m*", "%*", "naïve café 北京 \U0001F600", "nul\x00byte",
    "source:\"odd, source\"", "((((arms))))", "arms " * 2000, "x" * 10000, "$1 $$ $$; SELECT 1", "%s %(x)s {0}",
]


def test_hostile_queries_never_break_the_sql(pair):
    pair.add(_synthetic())
    for text in HOSTILE:
        parsed = parse_query(text)
        try:
            expected = pair.whoosh.search(parsed.keyword, 20)
        except Exception:  # whoosh refuses some trees (a phrase on a field without positions)
            expected = None
        got = pair.pg.search(parsed.keyword, 20)
        if expected is not None:
            assert [i for i, _ in got] == [i for i, _ in expected], text
            assert [x for _, x in got] == pytest.approx([x for _, x in expected], abs=1e-4)
        pair.pg.matching(parsed.keyword)
        pair.pg.similar(text, 5)
    for hostile in ["'; DROP TABLE accord.kw_docs; --", "nul\x00term", "\\", "%", "_"]:
        for tree in [Q.Term("body", hostile), Q.Term("id", hostile), Q.Prefix("body", hostile), Q.Wildcard("body", hostile + "*"),
                     Q.Phrase("body", [hostile, "arm"]), Q.TermRange("body", hostile, None)]:
            pair.pg.search(tree, 5)
        # Countries and dates are validated when Filters is built; an outlet is free text.
        pair.pg.search(Q.Term("body", "arm"), 5, Filters(sources=(hostile,)))
    odd = "odd'; DROP TABLE accord.kw_docs; --"
    assert pair.pg.search(Q.Term("id", odd), 5) == [(odd, 1.0)]
    assert pair.pg.search(Q.Prefix("body", "100%"), 5) == [] and pair.pg.search(Q.Wildcard("body", "a_m*"), 5) == []
    tables = {r[0] for r in pair.conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'accord'")}
    assert {"kw_docs", "kw_postings", "kw_terms", "kw_fields"} <= tables
    assert pair.conn.execute("SELECT count(*) FROM accord.kw_docs").fetchone()[0] == len(_synthetic())


def test_hostile_text_never_reaches_the_sql_text(pair):
    from index.storage.postgres.keyword_sql import Compiler, lookup

    pair.add(_synthetic())
    marker = "zq'x\\; DROP"
    trees = [Q.Term("body", marker), Q.Term("id", marker), Q.Prefix("body", marker), Q.Wildcard("body", marker + "*"),
             Q.Phrase("body", ["arm", marker]), Q.TermRange("date", marker, marker + "z"), Q.Every(marker),
             Q.Or([Q.Term("body", "arm"), Q.Not(Q.Term("source", marker))]), parse_query(marker + " arms").keyword]
    schema = pair.pg._schema
    for tree in trees:
        stats = lookup(pair.conn, tree, schema)
        fragment = Compiler(schema, stats, K1, B).compile(tree)
        assert fragment is None or ("DROP" not in fragment.sql and "zq" not in fragment.sql), fragment


def test_a_search_reads_one_snapshot(pg_url, monkeypatch):
    """A writer committing between a search's two statements is not seen by either of them."""
    import index.storage.postgres.keyword as pg_keyword

    articles = _synthetic()
    with connect(pg_url) as writer_conn:
        migrate(writer_conn)
        with writer_conn.transaction():
            writer = PgKeywordWriter(writer_conn, TITLE_BOOST)
            for a in articles[:30]:
                writer.add(a)
            writer.commit()
        with connect(pg_url, autocommit=True) as reader:
            store = PgKeywordStore(reader, K1, B)
            query = parse_query("arms navy").keyword
            before = store.search(query, 100)
            real_lookup = pg_keyword.lookup

            def lookup_then_a_commit(*args, **kwargs):
                stats = real_lookup(*args, **kwargs)
                with writer_conn.transaction():
                    late = PgKeywordWriter(writer_conn, TITLE_BOOST)
                    late.delete([articles[0].id])
                    for a in articles[30:]:
                        late.add(a)
                    late.commit()
                writer_conn.commit()
                return stats

            monkeypatch.setattr(pg_keyword, "lookup", lookup_then_a_commit)
            assert store.search(query, 100) == before
            monkeypatch.setattr(pg_keyword, "lookup", real_lookup)
            after = store.search(query, 100)
            assert articles[0].id not in {i for i, _ in after} and len(after) == len(articles) - 1


def test_hostile_ids_are_stored_and_deleted_as_given(pair):
    odd = ["o'brien", 'quote"d', "semi;colon", "back\\slash", "tab\there", "uni\u00e7\u00f8de", "-- comment"]
    articles = [Article(id=i, title="", body=f"hostile id {n} arms", date=None, source=None, url=None, path="h")
                for n, i in enumerate(odd)]
    pair.add(articles)
    assert {i for i, _ in pair.pg.search(Q.Term("body", "arm"), 20)} == set(odd)
    pair.add([], delete=odd[:3])
    assert {i for i, _ in pair.pg.search(Q.Term("body", "arm"), 20)} == set(odd[3:])
    with pytest.raises(Exception, match="NUL"):
        PgKeywordWriter(pair.conn, TITLE_BOOST).add(replace(articles[0], id="nul\x00id"))


def test_a_huge_word_is_counted_but_not_indexed(pair):
    word = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(400))  # 25,600 letters, incompressible
    huge = Article(id="huge", title="", body=f"arms {word} navy", date=None, source=None, url=None, path="h")
    pair.add([huge, *_synthetic()[:5]])
    pair.assert_same(parse_query("arms navy").keyword)  # the length counts the huge word as whoosh does
    assert pair.pg.search(Q.Term("body", word), 5) == []


def test_fast_path_is_sql_bm25_without_the_pg_textsearch_index(pair):
    # The tests' server offers pg_textsearch (tests/install_pg_textsearch.py); this store has no
    # index over it (test_postgres_textsearch.py tests the store that has one).
    assert pair.pg.fast_path.startswith(FAST_PATH_SQL) and "no index" in pair.pg.fast_path
    assert pair.pg.search(Q.NullQuery, 10) == [] and pair.pg.matching(Q.NullQuery) == set()
    assert pair.pg.search(Q.Term("body", "arm"), 10) == []  # an empty index
    pair.pg.close()
    assert not pair.conn.closed  # the connection is the caller's


def test_a_tree_the_sql_cannot_score_is_a_named_error_and_the_connection_lives_on(pg_url):
    with connect(pg_url, autocommit=True) as conn:
        migrate(conn)
        store = PgKeywordStore(conn, K1, B)
        with pytest.raises(QuerySyntaxError, match="DisjunctionMax"):
            store.search(Q.DisjunctionMax([Q.Term("body", "arm"), Q.Term("body", "navi")]), 10)
        with pytest.raises(QuerySyntaxError, match="coordination"):
            store.search(Q.Or([Q.Term("body", "arm"), Q.Term("body", "navi")], scale=0.5), 10)
        assert store.search(Q.Term("body", "arm"), 10) == []
        assert conn.info.transaction_status.name == "IDLE"
