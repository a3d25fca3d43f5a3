"""Incremental updates, consistency checks, crash safety, readers during writers, watching."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.pipeline.builder import build
from index.pipeline.check import check_index
from index.storage.docstore import generation_docstore
from index.storage.manifest import read_manifest
from search.engine import Engine
from tests.conftest import HashingEncoder

REPO = Path(__file__).resolve().parent.parent
WORDS = ["russia", "libya", "iran", "treaty", "arms", "navy", "exercise", "missile", "grain", "talks"]


def write_article(folder: Path, name: str, words: list[str]) -> None:
    title = " ".join(words[:3]).title() or "Untitled"
    (folder / name).write_text(f"{title}\n{' '.join(words)} were discussed at length today.\n")


def snapshot(index_dir: Path) -> dict:
    """What a user can observe of an index: articles, passage spans, and search results."""
    encoder = HashingEncoder()
    manifest = read_manifest(index_dir)
    docs = generation_docstore(index_dir / manifest.generation)
    try:
        articles = {i: h for i, (h, _f) in docs.content_hashes().items()}
        spans = sorted((p.article_id, p.start, p.end) for a in articles for p in docs.passages_of(a))
        duplicate_groups = docs.duplicate_groups(sorted(articles))
    finally:
        docs.close()
    results = {}
    with Engine.open(index_dir, encoder=encoder) as engine:
        for word in WORDS[:5]:
            # BM25 statistics count deleted documents until whoosh merges their segment, so
            # keyword scores may differ from a fresh build's; which articles match may not. Pages
            # of 600 fetch every article of the corpus: a shallower cut falls among articles of
            # the same four words, whose keyword scores that difference reorders, and among
            # passages the fake encoder gives one vector, of which faiss keeps those it meets
            # first, in the order the index holds them (which an update changes).
            results[word, "keyword"] = sorted(h.id for h in engine.search(word, k=600, mode="keyword"))
            results[word, "semantic"] = [(h.id, round(h.score, 5)) for h in engine.search(word, k=600, mode="semantic")]
    return {"articles": articles, "spans": spans, "groups": duplicate_groups, "results": results}


def test_unchanged_sources_are_not_read_or_embedded(corpus_dir, built_index):
    encoder = HashingEncoder()
    # The fixture's files are younger than the racy window; age them as an old corpus is.
    for path in corpus_dir.iterdir():
        os.utime(path, (time.time() - 60, time.time() - 60))
    build([], built_index, encoder=encoder)  # records the aged times
    report = build([], built_index, encoder=encoder)
    assert (report.files_read, report.embedded, encoder.calls, report.unchanged) == (0, 0, 0, 4)


def test_touched_file_is_read_but_changes_nothing(corpus_dir, built_index):
    os.utime(corpus_dir / "wheat.txt", (time.time() - 30, time.time() - 30))
    report = build([], built_index, encoder=HashingEncoder())
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 4)


def test_cost_grows_with_the_change_not_the_corpus(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    rng = random.Random(1)
    for i in range(60):
        write_article(corpus, f"{i:03d}.txt", rng.sample(WORDS, 5))
        os.utime(corpus / f"{i:03d}.txt", (time.time() - 60, time.time() - 60))
    build([corpus], tmp_path / "ix", encoder=HashingEncoder())
    write_article(corpus, "new.txt", ["submarine", "deal", "australia"])
    encoder = HashingEncoder()
    report = build([], tmp_path / "ix", encoder=encoder)
    assert (report.files_read, report.added, report.unchanged) == (1, 1, 60)
    assert encoder.calls == report.embedded == 1


def test_one_changed_jsonl_line_updates_one_article(tmp_path):
    path = tmp_path / "docs.jsonl"
    records = [{"id": f"d{i}", "title": f"Title {i}", "body": f"Body number {i}."} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    build([path], tmp_path / "ix", encoder=HashingEncoder())
    records[1]["body"] = "A new body."
    path.write_text("".join(json.dumps(r) + "\n" for r in records[:2]))  # d2 dropped, d1 changed
    report = build([], tmp_path / "ix", encoder=HashingEncoder())
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 1, 1, 1)


def test_article_moving_between_files_is_kept(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(json.dumps({"id": "x", "body": "Moving article."}) + "\n")
    b.write_text("")
    build([tmp_path], tmp_path.parent / "ix-move", encoder=HashingEncoder())
    a.write_text("")
    b.write_text(json.dumps({"id": "x", "body": "Moving article."}) + "\n")
    report = build([], tmp_path.parent / "ix-move", encoder=HashingEncoder())
    assert report.articles == 1 and report.removed == 0
    with Engine.open(tmp_path.parent / "ix-move", encoder=HashingEncoder()) as engine:
        assert engine.article("x").path == f"{b}:1"


def test_new_file_with_an_indexed_id_gets_a_qualified_id_and_the_old_id_stays(corpus_dir, built_index):
    (corpus_dir / "more.jsonl").write_text(json.dumps({"id": "wheat", "body": "Impostor."}) + "\n")
    report = build([], built_index, encoder=HashingEncoder())
    assert report.articles == 5 and report.skipped == [] and report.added == 1
    with Engine.open(built_index, encoder=HashingEncoder()) as engine:
        assert "Kansas" in engine.article("wheat").body  # ids already in the index keep their article
        assert engine.article("more:wheat").body == "Impostor."
    # Stable: the next update (the new file changed) keeps the qualified id, adding nothing.
    (corpus_dir / "more.jsonl").write_text(json.dumps({"id": "wheat", "body": "Impostor, corrected."}) + "\n")
    report = build([], built_index, encoder=HashingEncoder())
    assert (report.articles, report.added, report.updated) == (5, 0, 1)


def test_check_reports_consistency_and_staleness(corpus_dir, built_index):
    result = check_index(built_index)
    assert result.consistent and result.notes == []
    (corpus_dir / "late.txt").write_text("Late news\nSomething happened late today.\n")
    assert any("new or changed" in note for note in check_index(built_index).notes)


def test_check_finds_a_tampered_index(built_index):
    manifest = read_manifest(built_index)
    import sqlite3

    db = sqlite3.connect(built_index / manifest.generation / "articles.sqlite")
    db.execute("DELETE FROM articles WHERE id = 'wheat'")
    db.commit()
    db.close()
    problems = check_index(built_index).problems
    assert any("manifest counts" in p for p in problems)
    assert any("keyword index and article store differ by 1" in p for p in problems)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "modify", "delete"]),
            st.integers(min_value=0, max_value=5),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_incremental_updates_match_a_build_from_scratch(operations):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus"
        corpus.mkdir()
        write_article(corpus, "base.txt", ["russia", "treaty"])
        build([corpus], tmp / "incremental", encoder=HashingEncoder())
        for op, slot, words in operations:
            path = corpus / f"{slot}.txt"
            if op == "delete":
                path.unlink(missing_ok=True)
            else:
                write_article(corpus, path.name, words)
            build([], tmp / "incremental", encoder=HashingEncoder())
        build([corpus], tmp / "scratch", encoder=HashingEncoder())
        assert snapshot(tmp / "incremental") == snapshot(tmp / "scratch")
        assert check_index(tmp / "incremental").consistent


BUILD_SCRIPT = """
import sys, time
sys.path.insert(0, {repo!r})
from tests.conftest import HashingEncoder
from index.pipeline.builder import build
print("ready", flush=True)
started = time.perf_counter()
build([{corpus!r}], {index!r}, encoder=HashingEncoder())
print(time.perf_counter() - started, flush=True)
"""


def start_update(corpus: Path, index_dir: Path) -> subprocess.Popen:
    script = BUILD_SCRIPT.format(repo=str(REPO), corpus=str(corpus), index=str(index_dir))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"  # imports done: the build starts now
    return process


def change_corpus(corpus: Path, rng: random.Random, size: int) -> None:
    for i in rng.sample(range(size), size // 3):
        write_article(corpus, f"{i:03d}.txt", rng.sample(WORDS, 4))
    (corpus / f"{rng.randrange(size):03d}.txt").unlink(missing_ok=True)


def test_killed_updates_leave_a_searchable_index_that_converges(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    rng = random.Random(7)
    size = 600
    for i in range(size):
        write_article(corpus, f"{i:03d}.txt", rng.sample(WORDS, 4))
    build([corpus], index_dir, encoder=HashingEncoder())
    change_corpus(corpus, rng, size)
    timed = start_update(corpus, index_dir)
    duration = float(timed.stdout.readline())  # how long one update takes here
    timed.wait()

    interrupted = 0
    for round_number in range(8):
        change_corpus(corpus, rng, size)
        before = read_manifest(index_dir).generation
        process = start_update(corpus, index_dir)
        time.sleep(rng.uniform(0.0, 1.2 * duration))  # a random moment of the update
        process.send_signal(signal.SIGKILL)
        process.wait()
        interrupted += read_manifest(index_dir).generation == before
        result = check_index(index_dir)
        assert result.consistent, (round_number, result.problems)
        with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
            assert engine.search("russia", mode="keyword")  # still searchable
    assert interrupted >= 2, "the kills should land inside updates"
    build([], index_dir, encoder=HashingEncoder())
    build([corpus], tmp_path / "scratch", encoder=HashingEncoder())
    assert snapshot(index_dir) == snapshot(tmp_path / "scratch")
    assert len(list(index_dir.glob("gen-*"))) == 2  # the live one and the previous one


def test_readers_see_old_or_new_state_never_a_mix(tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "ix"
    corpus.mkdir()
    for i in range(20):
        write_article(corpus, f"{i:02d}.txt", ["treaty", "talks"])
    build([corpus], index_dir, encoder=HashingEncoder())
    done = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(12):
                if i % 2:
                    (corpus / "flip.txt").unlink()
                else:
                    write_article(corpus, "flip.txt", ["missile", "flip"])
                build([], index_dir, encoder=HashingEncoder())
        except BaseException as err:  # surfaced in the main thread
            errors.append(err)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    seen = set()
    while not done.is_set():
        with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
            count = engine.stats().articles
            flips = tuple(h.id for h in engine.search("flip", mode="keyword"))
            assert (count, flips) in {(20, ()), (21, ("flip",))}
            seen.add(count)
    thread.join()
    assert not errors
    assert seen  # the loop ran at least once


def test_watch_indexes_new_changed_and_deleted_files(tmp_path, corpus_dir):
    from index.pipeline.watch import watch

    index_dir = tmp_path / "ix"
    stop = threading.Event()
    batches: list = []
    thread = threading.Thread(
        target=watch,
        args=(corpus_dir, index_dir, lambda report, _s: batches.append(report)),
        kwargs={"encoder": HashingEncoder(), "debounce_ms": 100, "settle_seconds": 0.2, "stop": stop},
    )
    thread.start()

    def wait_for(n: int) -> None:
        deadline = time.time() + 20
        while len(batches) < n and time.time() < deadline:
            time.sleep(0.05)
        assert len(batches) >= n, batches

    try:
        wait_for(1)
        assert batches[0].added == 4
        write_article(corpus_dir, "fresh.txt", ["navy", "exercise"])
        (corpus_dir / "bad.txt").write_bytes(b"\x00\x01")
        wait_for(2)
        (corpus_dir / "wheat.txt").unlink()
        wait_for(3)
    finally:
        stop.set()
        thread.join(timeout=10)
    changes = [(b.added, b.removed) for b in batches[1:]]
    assert (1, 0) in changes and (0, 1) in changes
    assert any(s.path.endswith("bad.txt") for b in batches for s in b.skipped)
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert engine.stats().articles == 4  # 4 + fresh - wheat
