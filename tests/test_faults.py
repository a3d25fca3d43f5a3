"""Faults on the write path: damaged files are named by --check and by updates, a moved source
is reported and forgotten on request, large inputs are published batch by batch (and a killed
batch build keeps what it published), and huge files are warned about or refused."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from index.errors import IndexCorrupted, InvalidArgument, SourceNotFound
from index.pipeline.builder import LargeFiles, build
from index.pipeline.check import check_index
from index.storage.directory import IndexDirectory
from index.storage.manifest import read_manifest
from search.engine import Engine
from tests.conftest import HashingEncoder

ROOT = Path(__file__).resolve().parent.parent


def _live(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir).generation


def _flip(path: Path, offset: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset:offset + length] = b"\x7f" * length
    path.write_bytes(bytes(data))


def test_check_finds_flipped_bytes_in_the_vectors(built_index: Path) -> None:
    assert check_index(built_index).consistent
    vectors = _live(built_index) / "vectors.faiss"
    _flip(vectors, 120, 16)  # inside the first stored vector, past the headers
    result = check_index(built_index)
    assert not result.consistent
    assert any("vectors.faiss" in p and "not unit length" in p and "--rebuild" in p for p in result.problems)
    assert any("differ from the embedding cache" in p for p in result.problems)
    build([], built_index, encoder=HashingEncoder(), rebuild=True)
    assert check_index(built_index).consistent


def test_a_search_over_damaged_vectors_is_a_clear_error_not_wild_scores(built_index: Path) -> None:
    from index.errors import IndexCorrupted
    from search.engine import Engine

    _flip(_live(built_index) / "vectors.faiss", 120, 16)
    with Engine.open(built_index, encoder=HashingEncoder()) as engine:
        assert engine.search("Libya", mode="keyword")  # the keyword leg does not read the vectors
        with pytest.raises(IndexCorrupted, match=r"vectors.faiss is damaged .*accord index --rebuild"):
            engine.search("Libya", mode="hybrid")


def test_check_compares_stored_vectors_with_the_cache(built_index: Path) -> None:
    import faiss
    import numpy as np

    # A unit vector in the wrong place: lengths are right, content is not.
    path = _live(built_index) / "vectors.faiss"
    index = faiss.read_index(str(path))
    ids = faiss.vector_to_array(index.id_map)
    stored = index.index.reconstruct_n(0, index.ntotal)
    index.remove_ids(np.asarray(ids, dtype=np.int64))
    index.add_with_ids(np.roll(stored, 1, axis=0), ids)
    faiss.write_index(index, str(path))
    result = check_index(built_index)
    assert [p for p in result.problems if "differ from the embedding cache" in p]
    assert not [p for p in result.problems if "unit length" in p]


def test_a_damaged_article_store_is_named_by_check_and_by_an_update(built_index: Path, corpus_dir: Path) -> None:
    store = _live(built_index) / "articles.sqlite"
    store.write_bytes(b"\x00garbage" * 512)
    result = check_index(built_index)
    assert any("articles.sqlite" in p and "--rebuild" in p for p in result.problems)
    (corpus_dir / "more.txt").write_text("Submarine deal\nAustralia signed a submarine deal.\n")
    with pytest.raises(IndexCorrupted, match=r"articles\.sqlite.*--rebuild"):
        build([], built_index, encoder=HashingEncoder())
    assert build([], built_index, encoder=HashingEncoder(), rebuild=True).articles == 5


def test_a_damaged_keyword_index_is_named_by_check(built_index: Path) -> None:
    keyword = _live(built_index) / "keyword"
    for segment in keyword.glob("*.seg"):
        segment.write_bytes(segment.read_bytes()[: len(segment.read_bytes()) // 3])
    result = check_index(built_index)
    assert any("keyword" in p and "damaged" in p and "--rebuild" in p for p in result.problems), result.problems


def test_a_moved_source_is_reported_and_the_rest_goes_on(tmp_path: Path, built_index: Path, corpus_dir: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "sub.txt").write_text("Submarine deal\nAustralia signed a submarine deal.\n")
    build([extra], built_index, encoder=HashingEncoder())
    moved = tmp_path / "extra-moved"
    extra.rename(moved)
    (corpus_dir / "talks.txt").write_text("Navy talks\nThe navies held talks.\n")

    report = build([], built_index, encoder=HashingEncoder())
    assert report.missing_sources == [str(extra)] and report.added == 1
    assert report.articles == 6  # the moved source's article is kept until forgotten
    assert any(f"--forget {extra}" in w for w in report.warnings)

    with pytest.raises(SourceNotFound, match="--forget"):
        build([extra], built_index, encoder=HashingEncoder())
    report = build([moved], built_index, encoder=HashingEncoder())
    # The moved copy is indexed at once under its source-qualified id; the old copy keeps "sub".
    assert report.skipped == [] and report.articles == 7

    report = build([], built_index, encoder=HashingEncoder(), forget=[extra])
    assert report.forgotten == [str(extra)] and report.missing_sources == []
    assert report.articles == 6  # the old copy removed, the moved one indexed in its place
    assert read_manifest(built_index).sources == [str(corpus_dir), str(moved)]
    with Engine.open(built_index, encoder=HashingEncoder()) as engine:
        assert [h.id for h in engine.search("submarine", mode="keyword")] == ["extra-moved:sub"]
        assert engine.article("extra-moved:sub").path.startswith(str(moved))
    assert check_index(built_index).consistent

    with pytest.raises(InvalidArgument, match="not a source"):
        build([], built_index, encoder=HashingEncoder(), forget=[tmp_path / "never"])


def test_an_update_is_published_in_batches(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(12):
        (corpus / f"{i:02d}.txt").write_text(f"Article {i}\nTalks number {i} on navy cooperation.\n")
    stages: list[tuple[str, int, int]] = []
    report = build([corpus], tmp_path / "ix", encoder=HashingEncoder(), commit_every=4,
                   progress=lambda *event: stages.append(event))
    assert report.generations == 3 and report.articles == 12
    assert stages[0] == ("read", 0, 12)  # shown before the first file is read
    assert {s for s, _d, _t in stages} == {"read", "split", "embed"}
    embed = [(d, t) for s, d, t in stages if s == "embed"]
    assert embed[-1][0] == embed[-1][1] == report.passages
    assert check_index(tmp_path / "ix").consistent


KILLED = """
import os, signal, sys
sys.path.insert(0, {root!r})
from tests.conftest import HashingEncoder
from index.pipeline.builder import build

def die(stage, done, total):
    # Killed once the third batch is embedded (and cached), before it is published.
    if stage == "embed" and done >= 18:
        os.kill(os.getpid(), signal.SIGKILL)

build([{corpus!r}], {index!r}, encoder=HashingEncoder(), commit_every=6, progress=die)
"""


def test_a_killed_batch_build_keeps_its_published_batches(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(40):
        (corpus / f"{i:02d}.txt").write_text(f"Article {i}\nTalks number {i} on navy cooperation.\n")
    index_dir = tmp_path / "ix"
    script = KILLED.format(root=str(ROOT), corpus=str(corpus), index=str(index_dir))
    process = subprocess.run([sys.executable, "-c", script], timeout=120)
    assert process.returncode == -9
    kept = read_manifest(index_dir).articles
    assert kept == 12  # two batches of six one-passage articles
    assert check_index(index_dir).consistent
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        assert engine.search("navy", mode="keyword")
    encoder = HashingEncoder()
    report = build([], index_dir, encoder=encoder)
    assert report.articles == 40 and report.added == 40 - kept
    assert report.reused_embeddings == 6  # the unpublished third batch was embedded already
    assert check_index(index_dir).consistent


def test_large_files_are_indexed_with_a_warning_or_refused(tmp_path: Path, corpus_dir: Path) -> None:
    report = build([corpus_dir], tmp_path / "warned", encoder=HashingEncoder(), large_files=LargeFiles(max_mb=0.0001))
    assert report.articles == 4
    assert any("over 0.0001 MB" in w and "--refuse-large" in w for w in report.warnings)
    refused = build([corpus_dir], tmp_path / "refused", encoder=HashingEncoder(),
                    large_files=LargeFiles(max_mb=0.0001, refuse=True))
    assert refused.articles == 0
    assert all("--max-file-mb" in s.reason for s in refused.skipped) and len(refused.skipped) == 4
    # Raising the limit takes effect on the next run: refused files are checked again.
    assert build([], tmp_path / "refused", encoder=HashingEncoder()).articles == 4


def test_a_lease_keeps_a_generation_for_check_during_updates(built_index: Path, corpus_dir: Path) -> None:
    with IndexDirectory(built_index).lease() as lease:
        for n in range(3):
            (corpus_dir / f"n{n}.txt").write_text(f"Note {n}\nNavy note {n}.\n")
            build([], built_index, encoder=HashingEncoder())
        assert lease.path.is_dir()
    shutil.rmtree(built_index / "locks")  # lock files are recreated on demand
    assert check_index(built_index).consistent
