"""The index command's fault handling through the CLI: one line, the file named, the way out."""

from __future__ import annotations

import errno
import json
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from index.storage.manifest import read_manifest
from tests.conftest import FAKE_MODEL

runner = CliRunner()


def run(*args: str):
    result = runner.invoke(app, list(args))
    print(result.output)  # shown when an assertion fails
    return result


def _index(corpus: Path, index_dir: Path, *more: str):
    return run("index", str(corpus), "--index", str(index_dir), "--model", FAKE_MODEL, *more)


def test_forget_a_moved_source(tmp_path: Path, corpus_dir: Path) -> None:
    index_dir = tmp_path / "ix"
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "sub.txt").write_text("Submarine deal\nAustralia signed a submarine deal.\n")
    assert _index(corpus_dir, index_dir).exit_code == 0
    assert _index(extra, index_dir).exit_code == 0
    extra.rename(tmp_path / "moved")

    result = run("index", "--index", str(index_dir))
    assert result.exit_code == 0
    assert f"warning: source {extra} is gone" in result.output and "--forget" in result.output

    result = run("index", str(extra), "--index", str(index_dir))
    assert result.exit_code == 1 and "no such file or folder" in result.output and "--forget" in result.output

    result = run("index", "--index", str(index_dir), "--forget", str(extra), "--json")
    assert result.exit_code == 0
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["forgotten"] == [str(extra)] and report["removed"] == 1 and report["articles"] == 4


def test_check_names_the_damaged_file(tmp_path: Path, corpus_dir: Path) -> None:
    index_dir = tmp_path / "ix"
    assert _index(corpus_dir, index_dir).exit_code == 0
    store = index_dir / read_manifest(index_dir).generation / "articles.sqlite"
    store.write_bytes(b"not sqlite" * 400)
    result = run("index", "--check", "--index", str(index_dir))
    assert result.exit_code == 1
    assert "problem:" in result.output and "articles.sqlite" in result.output and "--rebuild" in result.output
    assert "internal error" not in result.output
    result = run("stats", "--index", str(index_dir))  # another command reading the damaged file
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "--rebuild" in result.output and len(result.output.strip().splitlines()) == 1
    assert run("index", "--rebuild", "--index", str(index_dir)).exit_code == 0
    assert run("index", "--check", "--index", str(index_dir)).exit_code == 0


def test_check_of_an_unreadable_manifest_is_a_problem(tmp_path: Path, corpus_dir: Path) -> None:
    index_dir = tmp_path / "ix"
    assert _index(corpus_dir, index_dir).exit_code == 0
    (index_dir / "manifest.json").write_text("{")
    result = run("index", "--check", "--index", str(index_dir))
    assert result.exit_code == 1 and "manifest.json" in result.output and "--rebuild" in result.output
    result = run("index", "--rebuild", "--index", str(index_dir))
    assert result.exit_code == 0 and "Indexed 4 articles" in result.output


def test_a_full_disk_is_one_line(tmp_path: Path, corpus_dir: Path, monkeypatch) -> None:
    import whoosh.filedb.structfile as structfile

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(structfile.StructFile, "write", full)
    index_dir = tmp_path / "ix"
    result = _index(corpus_dir, index_dir)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "no space left on device" in lines[0] and str(index_dir) in lines[0]
    assert not list(index_dir.glob("gen-*"))  # the partial generation is gone


def test_large_files_refused_by_choice(tmp_path: Path, corpus_dir: Path) -> None:
    result = _index(corpus_dir, tmp_path / "ix", "--max-file-mb", "0.0001", "--refuse-large")
    assert result.exit_code == 3 and "Indexed 0 articles" in result.output  # 3: files were skipped
    assert result.output.count("--max-file-mb") == 4
