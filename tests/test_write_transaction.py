"""The write transaction: the lock is taken before anything is read (no lost update between two
writers), a failed generation is removed, and a full disk is a one-line error with sizes."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.errors import IndexLocked, IndexWriteError
from index.pipeline.builder import build
from index.storage.directory import IndexDirectory
from index.storage.docstore import generation_docstore
from index.storage.manifest import read_manifest
from index.storage.transaction import WriteTransaction
from tests.conftest import HashingEncoder

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import sys
sys.path.insert(0, {root!r})
from tests.conftest import HashingEncoder
from index.pipeline.builder import build

held = []

def hold(stage, done, total):
    # Writer 1 stops inside its transaction (under the lock) until the test says go.
    if {hold!r} and stage == "read" and not held:
        held.append(stage)
        print("locked", flush=True)
        sys.stdin.readline()

print("ready", flush=True)
report = build([{source!r}], {index!r}, encoder=HashingEncoder(), lock_timeout=60, progress=hold)
print("done", report.articles, flush=True)
"""


def _source(folder: Path, name: str, words: str) -> Path:
    path = folder / name
    path.mkdir(parents=True)
    (path / f"{name}.txt").write_text(f"{words.title()}\n{words} were discussed today.\n")
    return path


def _writer(source: Path, index_dir: Path, hold: bool) -> subprocess.Popen:
    script = WRITER.format(root=str(ROOT), source=str(source), index=str(index_dir), hold=hold)
    return subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_a_writer_that_waited_for_the_lock_keeps_the_other_writers_changes(tmp_path: Path) -> None:
    a = _source(tmp_path, "a", "navy talks")
    b = _source(tmp_path, "b", "missile treaty")
    c = _source(tmp_path, "c", "grain harvest")
    index_dir = tmp_path / "ix"
    build([a], index_dir, encoder=HashingEncoder())

    first = _writer(b, index_dir, hold=True)
    second = None
    try:
        assert first.stdout.readline().strip() == "ready"
        assert first.stdout.readline().strip() == "locked"  # writer 1 holds the lock
        second = _writer(c, index_dir, hold=False)
        assert second.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # writer 2 is inside build(), waiting for the lock
        assert second.poll() is None
        first.stdin.write("go\n")
        first.stdin.flush()
        assert first.stdout.readline().split() == ["done", "2"]
        assert second.stdout.readline().split() == ["done", "3"]
    finally:
        for process in (first, second):
            if process is not None:
                process.communicate(timeout=60)
    manifest = read_manifest(index_dir)
    assert manifest.sources == [str(a), str(b), str(c)]
    docs = generation_docstore(index_dir / manifest.generation)
    try:
        assert docs.article_ids() == {"a", "b", "c"}
    finally:
        docs.close()


def test_a_second_writer_gives_up_after_its_timeout(built_index: Path) -> None:
    with WriteTransaction(IndexDirectory(built_index)):
        with pytest.raises(IndexLocked, match="another process"):
            build([], built_index, encoder=HashingEncoder(), lock_timeout=0.2)


def test_an_error_inside_the_transaction_removes_the_new_generation(built_index: Path) -> None:
    directory = IndexDirectory(built_index)
    live = directory.read_manifest().generation
    before = [p.name for p in directory.generation_dirs()]
    with pytest.raises(ZeroDivisionError):
        with WriteTransaction(directory) as tx:
            assert tx.previous is not None and tx.previous.generation == live
            tx.begin()
            with tx.keywords(2.0) as keywords:
                keywords.delete(["libya"])
                raise ZeroDivisionError("a failure inside the writer")
    assert [p.name for p in directory.generation_dirs()] == before
    assert directory.read_manifest().generation == live
    with WriteTransaction(directory, lock_timeout=0):  # and the lock was released
        pass


def test_a_full_disk_is_one_line_with_sizes_and_leaves_the_live_index(built_index, corpus_dir, monkeypatch) -> None:
    import whoosh.filedb.structfile as structfile

    live = read_manifest(built_index)
    (corpus_dir / "more.txt").write_text("Submarine deal signed\nAustralia signed a submarine deal.\n")
    real_write = structfile.StructFile.write

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(structfile.StructFile, "write", full)
    with pytest.raises(IndexWriteError) as caught:
        build([], built_index, encoder=HashingEncoder())
    message = str(caught.value)
    assert "\n" not in message and "no space left" in message and " MB" in message
    assert str(built_index) in message and "live index is unchanged" in message
    assert read_manifest(built_index) == live
    assert [p.name for p in IndexDirectory(built_index).generation_dirs()] == [live.generation]
    monkeypatch.setattr(structfile.StructFile, "write", real_write)
    assert build([], built_index, encoder=HashingEncoder()).added == 1


def test_rebuild_works_from_the_sources_when_the_manifest_is_damaged(built_index: Path) -> None:
    (built_index / "manifest.json").write_text("{not json")
    with pytest.raises(Exception, match="--rebuild"):
        build([], built_index, encoder=HashingEncoder())
    report = build([], built_index, encoder=HashingEncoder(), rebuild=True)
    assert report.articles == 4
    assert json.loads((built_index / "manifest.json").read_text())["articles"] == 4


def test_rebuild_sets_a_damaged_embedding_cache_aside(built_index: Path) -> None:
    cache = built_index / "cache" / "embeddings.sqlite"
    cache.write_bytes(b"this is not a database" * 100)
    report = build([], built_index, encoder=HashingEncoder(), rebuild=True)
    assert report.articles == 4 and report.embedded == report.passages
    assert any("damaged" in w and "moved it to" in w for w in report.warnings)
    assert len(list(cache.parent.glob("embeddings.sqlite.damaged-*"))) == 1


def test_nothing_to_index_writes_nothing(tmp_path: Path) -> None:
    from index.errors import SourceNotFound

    with pytest.raises(SourceNotFound, match="nothing to index"):
        build([], tmp_path / "new", encoder=HashingEncoder())
    assert not (tmp_path / "new").exists()


def test_a_full_disk_while_caching_embeddings_is_one_line(built_index: Path, corpus_dir: Path, monkeypatch) -> None:
    import sqlite3

    from index.embedding.cache import EmbeddingCache

    def full(self, items):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(EmbeddingCache, "put_many", full)
    live = read_manifest(built_index)
    (corpus_dir / "more.txt").write_text("Submarine deal signed\nAustralia signed a submarine deal.\n")
    with pytest.raises(IndexWriteError, match=r"embeddings\.sqlite: no space left"):
        build([], built_index, encoder=HashingEncoder())
    assert read_manifest(built_index) == live


def test_a_build_in_many_batches_keeps_the_keyword_index_in_few_segments(tmp_path: Path) -> None:
    from whoosh import index as whoosh_index

    from index.storage.keyword import MAX_SEGMENTS
    from tests.conftest import HashingEncoder

    source = tmp_path / "src"
    source.mkdir()
    # Batches of 200: whoosh's own merge policy folds only segments of a few dozen documents.
    lines = [json.dumps({"id": f"a{n}", "title": f"Story {n}", "body": f"Navies meet for exercise number {n}."}) for n in range(1000)]
    (source / "many.jsonl").write_text("\n".join(lines) + "\n")
    report = build([source], tmp_path / "ix", encoder=HashingEncoder(), commit_every=200)
    assert report.generations == 5  # one published generation per batch
    live = tmp_path / "ix" / read_manifest(tmp_path / "ix").generation / "keyword"
    with whoosh_index.open_dir(str(live)).reader() as reader:
        assert len(reader.leaf_readers()) <= MAX_SEGMENTS
