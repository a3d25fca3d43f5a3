"""The PostgreSQL store behind the same Engine and builder: it answers as the local store does,
updates are all-or-nothing transactions, writers are serialised without lost updates, a killed
writer loses nothing committed, replicas serve searches, passwords never show.

Every test runs against a real PostgreSQL 18 + pgvector on 127.0.0.1 (tests/postgres_fixtures.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from index.errors import ArticleNotFound, IndexLocked, IndexNotFound, StoreUnavailable
from index.filters import Filters
from index.pipeline.builder import build
from index.storage.postgres.connection import connect
from search.engine import Engine
from tests.conftest import SEEDS, HashingEncoder, requires, server_running
from tests.test_write_transaction import _source, _writer

if TYPE_CHECKING:
    pass

pytestmark = requires("postgres")

QUERIES = [
    "military-technical cooperation Libya",
    "arms sales to North Africa",
    '"military cooperation"',
    "navy AND NOT Iran",
    "Russia Iraq weapons deal",
    "title:libya",
    "What is military cooperation?",
    "joint exercises (unbalanced",
]


def _hits(result) -> list[str]:
    return [hit.id for hit in result]


@pytest.fixture
def seeds_both(tmp_path, pg_url) -> tuple[Path, str]:
    """The seeds built into a local index folder and into the PostgreSQL store."""
    local = tmp_path / "local"
    build([SEEDS], local, encoder=HashingEncoder())
    report = build([SEEDS], pg_url, encoder=HashingEncoder())
    assert report.articles == 5 and "***" in report.index_dir or "@" not in report.index_dir
    return local, pg_url


def test_the_store_answers_as_the_local_index_does(seeds_both):
    local, url = seeds_both
    encoder = HashingEncoder()
    with Engine.open(local, encoder=encoder) as here, Engine.open(url, encoder=encoder) as there:
        for query in QUERIES:
            for mode in ("keyword", "semantic", "hybrid"):
                ours, theirs = here.search(query, k=5, mode=mode), there.search(query, k=5, mode=mode)
                assert _hits(theirs) == _hits(ours), (query, mode)
                for a, b in zip(ours, theirs):
                    assert b.score == pytest.approx(a.score, abs=1e-4), (query, mode)
                    assert (b.title, b.date, b.countries, b.snippet, b.highlights) == (a.title, a.date, a.countries, a.snippet, a.highlights)
                assert theirs.notes == ours.notes
        # The passage ids the engine's completion reads for a candidate's vectors: those of its
        # passages, in body order, in either store.
        ids = [hit.id for hit in here.search("military cooperation", k=5, mode="semantic")] + ["never-indexed"]
        for engine in (here, there):
            with engine._using() as view:
                by_article = view.docs.passage_ids_by_article(ids)
                assert by_article == {a: [p.id for p in ps] for a, ps in view.docs.passages_by_article(ids).items()}
                assert sorted(by_article) == sorted(ids[:-1])


def test_filters_facets_similar_and_show(seeds_both):
    local, url = seeds_both
    encoder = HashingEncoder()
    with Engine.open(local, encoder=encoder) as here, Engine.open(url, encoder=encoder) as there:
        for filters in (Filters(countries=("Russia",)), Filters(since="2015-01-01"), Filters(sources=("NOSUCH",))):
            assert _hits(there.search("cooperation", filters=filters)) == _hits(here.search("cooperation", filters=filters))
        assert there.search("cooperation", facets=True).facets == here.search("cooperation", facets=True).facets
        first = here.search("Libya", k=1)[0].id
        assert _hits(there.similar(first, k=3)) == _hits(here.similar(first, k=3))
        assert there.article(first) == here.article(first)
        with pytest.raises(ArticleNotFound):
            there.article("'; DROP TABLE accord.articles; --")
        stats = there.stats()
        assert (stats.articles, stats.passages) == (here.stats().articles, here.stats().passages)
        assert "***" in stats.index_dir and "@127.0.0.1" in stats.index_dir


def test_hostile_queries_are_plain_text(seeds_both):
    _local, url = seeds_both
    with Engine.open(url, encoder=HashingEncoder()) as engine:
        for query in ["'; DROP TABLE accord.articles; --", "\\x00 \\' \"", "Libya' OR '1'='1", "ü" * 300, "a%_b\\%"]:
            engine.search(query, mode="hybrid")
        assert engine.stats().articles == 5


def test_incremental_add_change_delete(tmp_path, pg_url):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    build([corpus], pg_url, encoder=HashingEncoder())
    files = sorted(corpus.glob("*.txt"))
    files[0].unlink()
    files[1].write_text("Navy Talks\nThe navies of Chile and Peru held joint exercises in the Pacific.\n")
    (corpus / "new.txt").write_text("Grain Deal\nEgypt signed a grain import deal with Ukraine.\n")
    encoder = HashingEncoder()
    report = build([], pg_url, encoder=encoder)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 3)
    assert encoder.calls == report.embedded > 0  # only the new and changed passages were embedded
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        assert engine.stats().articles == 5
        assert engine.search("Chile Peru navies", k=1, mode="keyword")[0].title == "Navy Talks"
        assert engine.search("grain Ukraine", k=1)[0].title == "Grain Deal"
        assert files[0].stem not in {hit.id for hit in engine.search("cooperation", k=10)}
    again = build([], pg_url, encoder=HashingEncoder())
    assert (again.added, again.updated, again.removed, again.embedded) == (0, 0, 0, 0)


def test_an_engine_refreshes_to_a_committed_update(tmp_path, pg_url):
    a = _source(tmp_path, "a", "navy talks")
    b = _source(tmp_path, "b", "missile treaty")
    build([a], pg_url, encoder=HashingEncoder())
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        before = engine.manifest.generation
        assert engine.refresh() is False
        build([b], pg_url, encoder=HashingEncoder())
        assert engine.refresh() is True and engine.manifest.generation != before
        result = engine.search("missile treaty", k=1)
        assert result[0].id == "b" and result.generation == engine.manifest.generation


def test_a_writer_that_waited_keeps_the_other_writers_changes(tmp_path, pg_url):
    a, b, c = (_source(tmp_path, n, w) for n, w in [("a", "navy talks"), ("b", "missile treaty"), ("c", "grain harvest")])
    build([a], pg_url, encoder=HashingEncoder())
    first = _writer(b, pg_url, hold=True)  # type: ignore[arg-type]  # the script formats any location
    second = None
    try:
        assert first.stdout.readline().strip() == "ready"
        assert first.stdout.readline().strip() == "locked"
        second = _writer(c, pg_url, hold=False)  # type: ignore[arg-type]
        assert second.stdout.readline().strip() == "ready"
        time.sleep(1.5)
        assert second.poll() is None  # waiting for the write lock
        with pytest.raises(IndexLocked):
            build([c], pg_url, encoder=HashingEncoder(), lock_timeout=0)
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().split() == ["done", "2"]
        assert second.stdout.readline().split() == ["done", "3"]
    finally:
        for process in (first, second):
            if process is not None:
                process.communicate(timeout=60)
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        assert engine.manifest.sources == [str(a), str(b), str(c)]
        assert engine.stats().articles == 3


KILLED = """
import sys, time
sys.path.insert(0, {root!r})
from tests.conftest import HashingEncoder
from index.pipeline.builder import build

class Slow(HashingEncoder):
    def encode(self, texts):
        print("batch", flush=True)
        time.sleep(0.3)
        return super().encode(texts)

build([{source!r}], {url!r}, encoder=Slow(), commit_every=4)
"""


def test_a_killed_writer_loses_nothing_committed(tmp_path, pg_url):
    source = tmp_path / "many"
    source.mkdir()
    for i in range(40):
        (source / f"{i:03}.txt").write_text(f"Report {i}\nTalks number {i} on naval cooperation went on.\n")
    script = KILLED.format(root=str(Path(__file__).resolve().parent.parent), source=str(source), url=pg_url)
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        assert writer.stdout.readline().strip() == "batch"
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=30)
    with connect(pg_url) as conn:
        manifest = json.loads(conn.execute("SELECT value::text FROM accord.meta WHERE key = 'manifest'").fetchone()[0])
        articles = conn.execute("SELECT count(*) FROM accord.articles").fetchone()[0]
        postings_docs = conn.execute("SELECT count(*) FROM accord.kw_docs").fetchone()[0]
        vectors = conn.execute("SELECT count(*) FROM accord.passages WHERE embedding IS NOT NULL").fetchone()[0]
    # What is there is exactly what the last commit published: all stores agree.
    assert 0 < manifest["articles"] == articles == postings_docs < 40
    assert vectors == manifest["passages"]
    report = build([], pg_url, encoder=HashingEncoder(), lock_timeout=10)  # the lock died with the writer
    assert report.articles == 40


def test_readers_see_the_old_state_or_the_new_never_a_mix(tmp_path, pg_url):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"{i:02}.txt").write_text(f"Round {i}\nNaval cooperation talks, round {i}.\n")
    build([corpus], pg_url, encoder=HashingEncoder())
    errors: list[BaseException] = []
    seen: set[int] = set()
    stop = threading.Event()

    def search() -> None:
        with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
            while not stop.is_set():
                try:
                    result = engine.search("naval cooperation talks", k=100, mode="keyword")
                    seen.add(len(result))
                except BaseException as err:  # noqa: BLE001 - collected for the assertion
                    errors.append(err)

    threads = [threading.Thread(target=search) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for i in range(30):  # one update deletes all 30 and adds 30 others: all or nothing
            (corpus / f"{i:02}.txt").write_text(f"Other {i}\nA grain harvest report, number {i}.\n")
        build([], pg_url, encoder=HashingEncoder())
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors
    assert seen <= {30, 0}


def test_replicas_serve_searches_and_the_primary_stands_in(postgres_server, tmp_path):
    postgres_server.sql("CREATE DATABASE replicated OWNER accord")
    url = postgres_server.url(database="replicated")
    build([SEEDS], url, encoder=HashingEncoder())
    replica = postgres_server.replica()
    postgres_server.wait_for_replicas()
    replica_url = replica.url(database="replicated")
    try:
        with Engine.open(url, encoder=HashingEncoder(), replicas=[replica_url]) as engine:
            expected = _hits(engine.search("military cooperation"))
            with connect(replica_url) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                before = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'replicated'").fetchone()[0]
            engine.search("military cooperation")
            with connect(replica_url) as conn:
                after = conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'replicated'").fetchone()[0]
            assert after > before  # the search ran on the replica
            replica.stop(delete=False)
            assert _hits(engine.search("military cooperation")) == expected  # the primary answered
    finally:
        replica.stop()
        postgres_server._replicas.remove(replica)
        postgres_server.sql("DROP DATABASE replicated WITH (FORCE)")


def test_a_read_only_role_can_search_but_not_write(seeds_both, postgres_server):
    _local, url = seeds_both
    database = url.rsplit("/", 1)[1]
    postgres_server.sql(
        "DO $$ BEGIN CREATE ROLE reader LOGIN PASSWORD 'readerpw'; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
    )
    postgres_server.sql(
        "GRANT USAGE ON SCHEMA accord TO reader", "GRANT SELECT ON ALL TABLES IN SCHEMA accord TO reader", database=database
    )
    reader = postgres_server.url(database=database, role="reader", password="readerpw")
    with Engine.open(reader, encoder=HashingEncoder()) as engine:
        assert engine.search("Libya", k=1)
    with pytest.raises(Exception) as caught:
        build([SEEDS], reader, encoder=HashingEncoder(), rebuild=True)
    assert "readerpw" not in str(caught.value)


def test_no_index_and_no_server_are_one_line_errors(pg_url):
    with pytest.raises(IndexNotFound, match="accord index PATH --db URL"):
        Engine.open(pg_url, encoder=HashingEncoder())
    dead = "postgresql://accord:hunter2@127.0.0.1:9/accord"
    with pytest.raises(StoreUnavailable) as caught:
        Engine.open(dead, encoder=HashingEncoder())
    assert "hunter2" not in str(caught.value)


def test_cli_index_and_search_with_db(tmp_path, pg_url, monkeypatch):
    from cli import app

    monkeypatch.setenv("ACCORD_DATABASE_URL", pg_url)
    monkeypatch.setenv("ACCORD_CACHE_DIR", str(tmp_path / "cache"))
    runner = CliRunner()
    password = pg_url.split(":")[2].split("@")[0]
    built = runner.invoke(app, ["index", str(SEEDS), "--model", "test/hashing-bag-of-words"])
    assert built.exit_code == 0, built.output
    assert password not in built.output and "***" in built.output
    found = runner.invoke(app, ["search", "military-technical cooperation Libya", "--json", "-k", "1"])
    assert found.exit_code == 0, found.output
    with Engine.open(pg_url, encoder=HashingEncoder()) as engine:
        expected = engine.search("military-technical cooperation Libya", k=1)[0].title
    assert json.loads(found.output.splitlines()[0])["title"] == expected
    stats = runner.invoke(app, ["stats", "--db", pg_url])
    assert stats.exit_code == 0 and password not in stats.output
    listed = runner.invoke(app, ["watchlist", "list"])  # saved searches live in the store too
    assert listed.exit_code == 0 and "No saved searches" in listed.output
    bad = runner.invoke(app, ["search", "x", "--db", "mysql://u:pw@h/d"])
    assert bad.exit_code == 1 and "is not a database URL" in bad.output and ":pw@" not in bad.output


def test_check_finds_a_store_whose_parts_disagree(seeds_both):
    from index.pipeline.check import check_store

    _local, url = seeds_both
    assert check_store(url).consistent
    with connect(url) as conn:
        conn.execute("UPDATE accord.passages SET embedding = NULL WHERE id = (SELECT min(id) FROM accord.passages)")
        conn.execute("DELETE FROM accord.kw_docs WHERE docnum = (SELECT min(docnum) FROM accord.kw_docs)")
    result = check_store(url)
    problems = " | ".join(result.problems)
    assert "1 passages have no vector" in problems
    assert "keyword index and article store differ by 1 articles" in problems
    assert "***" in result.index_dir


def test_past_the_threshold_an_hnsw_index_answers_and_filters_stay_exact(tmp_path, pg_url, monkeypatch):
    from index.storage.postgres import vectors as pg_vectors

    local = tmp_path / "local"
    build([SEEDS], local, encoder=HashingEncoder())
    monkeypatch.setattr(pg_vectors, "HNSW_THRESHOLD", 5)
    build([SEEDS], pg_url, encoder=HashingEncoder())
    with connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('accord.passages_hnsw') IS NOT NULL").fetchone()[0]
    encoder = HashingEncoder()
    with Engine.open(local, encoder=encoder) as here, Engine.open(pg_url, encoder=encoder) as there:
        for query in ("military cooperation Russia", "Libya arms"):
            # A handful of vectors: the graph finds them all, so the answer is the exact one.
            assert _hits(there.search(query, mode="semantic")) == _hits(here.search(query, mode="semantic"))
            russia = Filters(countries=("Russia",))
            assert _hits(there.search(query, mode="semantic", filters=russia)) == _hits(here.search(query, mode="semantic", filters=russia))


def test_a_search_for_more_than_an_hnsw_scan_returns_is_exact(tmp_path, pg_url, monkeypatch):
    """pgvector's HNSW scan returns at most hnsw.ef_search (at most 1,000) rows; asked for more,
    the store gives them all, the exact ones. (It gave 1,000, and the semantic leg, still short
    of articles, widened until it sorted every vector: 2 s at 476,700 passages.)"""
    import random

    from index.storage.postgres import vectors as pg_vectors

    rng = random.Random(7)
    words = [f"w{i}" for i in range(300)]
    source = tmp_path / "src"
    source.mkdir()
    lines = [json.dumps({"id": f"a{n:03d}", "title": f"Article {n}", "body": " ".join(rng.choice(words) for _ in range(400))})
             for n in range(200)]
    (source / "articles.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(pg_vectors, "HNSW_THRESHOLD", 5)
    build([source], pg_url, encoder=HashingEncoder())
    wanted = pg_vectors.HNSW_MAX_EF_SEARCH + 100
    with connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('accord.passages_hnsw') IS NOT NULL").fetchone()[0]
        ids = [row[0] for row in conn.execute("SELECT id FROM accord.passages")]
        assert len(ids) > wanted
        # A table this small PostgreSQL would rather sort than walk the index for 1,100 rows; at
        # 476,700 passages it walks it. Make it walk it here too.
        conn.execute("SET LOCAL enable_seqscan = off")
        store = pg_vectors.PgVectorStore(conn, HashingEncoder.dim)
        query = HashingEncoder().encode(["w1 w2 w3 w4 w5"])[0]
        found = store.search(query, wanted)
        assert len({pid for pid, _score in found}) == wanted
        # The exact answer (ties may come in another order).
        assert [score for _pid, score in found] == [score for _pid, score in store.search(query, wanted, allowed=ids)]
        assert len(store.search(query, 50)) == 50  # a small search still goes through the index


def test_accord_serve_over_the_store_and_a_replica(seeds_both, postgres_server):
    import httpx

    from index.storage.postgres.local_server import free_port
    from search.web.server import Server

    local, url = seeds_both
    port = free_port()
    server = Server(url, host="127.0.0.1", port=port, encoder=HashingEncoder(), replicas=[url])
    assert "***" in server.location
    with server_running(server, "accord-serve-test"):
        base = f"http://127.0.0.1:{port}"
        found = httpx.get(f"{base}/api/search", params={"q": "military cooperation", "k": 3}).json()
        with Engine.open(local, encoder=HashingEncoder()) as engine:
            assert [h["id"] for h in found["hits"]] == _hits(engine.search("military cooperation", k=3))
        stats = httpx.get(f"{base}/api/stats").json()
        assert stats["articles"] == 5 and "***" in stats["index_dir"]
        watchlist = httpx.get(f"{base}/api/watchlist")
        assert watchlist.status_code == 200 and watchlist.json() == {"searches": [], "user": None}


def test_one_engine_shared_by_threads_answers_as_one_thread(seeds_both):
    from concurrent.futures import ThreadPoolExecutor

    _local, url = seeds_both
    work = [(query, mode) for query in QUERIES for mode in ("keyword", "semantic", "hybrid")]
    with Engine.open(url, encoder=HashingEncoder()) as engine:
        expected = {(q, m): [(h.id, round(h.score, 6)) for h in engine.search(q, k=5, mode=m)] for q, m in work}

        def run(item):
            query, mode = item
            return item, [(h.id, round(h.score, 6)) for h in engine.search(query, k=5, mode=mode)]

        with ThreadPoolExecutor(max_workers=8) as pool:  # bounded: 8 threads x 24 searches x 4
            answers = list(pool.map(run, work * 4 * 8))
    assert all(found == expected[item] for item, found in answers)


def test_a_hybrid_search_never_runs_two_statements_at_once_on_its_connection(seeds_both, monkeypatch):
    """One search reads one snapshot through one connection, which runs one statement at a time
    (psycopg's pipeline mode fails outright when a second thread sends meanwhile): the legs'
    SQL must take turns; only the query's embedding may overlap the keyword leg."""
    from index.storage.postgres.keyword import PgKeywordStore
    from index.storage.postgres.vectors import PgVectorStore

    _local, url = seeds_both
    busy = threading.Lock()
    overlaps: list[str] = []

    def exclusive(name, method):
        def run(self, *args, **kwargs):
            if not busy.acquire(blocking=False):
                overlaps.append(name)
                return method(self, *args, **kwargs)
            try:
                time.sleep(0.2)  # widen the window a second thread would use
                return method(self, *args, **kwargs)
            finally:
                busy.release()
        return run

    monkeypatch.setattr(PgKeywordStore, "search", exclusive("keyword", PgKeywordStore.search))
    monkeypatch.setattr(PgVectorStore, "search", exclusive("vectors", PgVectorStore.search))
    with Engine.open(url, encoder=HashingEncoder()) as engine:
        found = [len(engine.search(query, mode="hybrid")) for query in QUERIES[:4]]
    assert overlaps == [] and sum(found) > 0
