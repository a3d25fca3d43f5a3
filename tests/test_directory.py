"""The index directory's reader leases: a leased generation survives pruning, in this process
and from another one, and is removed once released."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from index.errors import IndexIncompatible, IndexNotFound
from index.pipeline.builder import build
from index.storage.directory import GenerationLease, IndexDirectory
from index.storage.manifest import MANIFEST_NAME

ROOT = Path(__file__).resolve().parent.parent


def _touch_corpus(corpus_dir: Path, n: int) -> None:
    (corpus_dir / f"new-{n}.txt").write_text(f"Article number {n}\nNavies of {n} countries met for talks.\n")


def _generations(index_dir: Path) -> list[str]:
    return [p.name for p in IndexDirectory(index_dir).generation_dirs()]


def test_lease_names_the_live_generation(built_index: Path) -> None:
    directory = IndexDirectory(built_index)
    with directory.lease() as lease:
        assert isinstance(lease, GenerationLease)
        assert lease.generation == directory.read_manifest().generation
        assert lease.path == built_index / lease.generation
        assert lease.docstore_path.is_file() and lease.keyword_path.is_dir() and lease.vectors_path.is_file()
        assert lease.manifest.articles == 4
    assert lease.released
    lease.release()  # a second release does nothing


def test_a_leased_generation_survives_pruning_until_released(built_index: Path, corpus_dir: Path, encoder) -> None:
    directory = IndexDirectory(built_index)
    first = directory.lease()
    second = directory.lease()  # two leases in one process: both must go before the folder may
    for n in range(3):
        _touch_corpus(corpus_dir, n)
        build([], built_index, encoder=encoder)
    assert first.generation in _generations(built_index)
    assert len(_generations(built_index)) == 3  # leased, previous, live: the rest were pruned
    first.release()
    _touch_corpus(corpus_dir, 9)
    build([], built_index, encoder=encoder)
    assert first.generation in _generations(built_index)  # still leased by `second`
    second.release()
    _touch_corpus(corpus_dir, 10)
    build([], built_index, encoder=encoder)
    assert first.generation not in _generations(built_index)
    assert not directory.lease_lock_path(first.generation).exists()  # its lock file went with it
    assert len(_generations(built_index)) == 2


def test_a_lease_held_by_another_process_blocks_pruning(built_index: Path, corpus_dir: Path, encoder) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from index.storage.directory import IndexDirectory
            lease = IndexDirectory({str(built_index)!r}).lease()
            print(lease.generation, flush=True)
            sys.stdin.readline()
            lease.release()
        """)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    try:
        leased = holder.stdout.readline().strip()
        assert leased.startswith("gen-")
        for n in range(3):
            _touch_corpus(corpus_dir, n)
            build([], built_index, encoder=encoder)
        assert leased in _generations(built_index)
    finally:
        holder.communicate("\n", timeout=30)
    _touch_corpus(corpus_dir, 7)
    build([], built_index, encoder=encoder)
    assert leased not in _generations(built_index)


def test_prune_removes_unleased_generations(built_index: Path, corpus_dir: Path, encoder) -> None:
    _touch_corpus(corpus_dir, 1)
    build([], built_index, encoder=encoder)
    directory = IndexDirectory(built_index)
    live = directory.read_manifest().generation
    assert len(_generations(built_index)) == 2
    assert directory.prune(keep={live}) != []
    assert _generations(built_index) == [live]


def test_lease_of_a_missing_index_or_generation_is_a_named_error(tmp_path: Path, built_index: Path) -> None:
    with pytest.raises(IndexNotFound):
        IndexDirectory(tmp_path / "nothing").lease()
    live = IndexDirectory(built_index).read_manifest().generation
    (built_index / live).rename(built_index / "moved-away")
    with pytest.raises(IndexIncompatible, match="--rebuild"):
        IndexDirectory(built_index).lease()
    assert (built_index / MANIFEST_NAME).exists()


def test_threads_leasing_while_a_writer_prunes_never_lose_their_generation(built_index: Path, corpus_dir: Path, encoder) -> None:
    import threading

    directory = IndexDirectory(built_index)
    stop = threading.Event()
    errors: list[BaseException] = []
    leases = [0]

    def reader() -> None:
        try:
            while not stop.is_set():
                with directory.lease() as lease:
                    leases[0] += 1
                    assert lease.docstore_path.is_file() and lease.keyword_path.is_dir()
                    time.sleep(0.01)
                    assert lease.vectors_path.is_file()  # still there while held
        except BaseException as err:  # surfaced in the main thread
            errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(4):
            _touch_corpus(corpus_dir, n)
            build([], built_index, encoder=encoder)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors and leases[0] > 0


def test_an_index_whose_lock_folder_cannot_be_made_can_still_be_leased(built_index: Path) -> None:
    # As on a read-only mount, where no writer can prune either: reading must still work.
    import shutil

    shutil.rmtree(built_index / "locks", ignore_errors=True)
    (built_index / "locks").write_text("not a folder")
    with IndexDirectory(built_index).lease() as lease:
        assert lease.docstore_path.is_file()
