"""`accord index --check` names the damaged file whatever the damage: bytes flipped in the vector
file's headers or ids (which faiss answers with wild allocations, errors or an abort of the whole
process), and a writers' lock or a reader's lease that is not a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.pipeline.check import check_index
from index.storage.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent
HEADER = 37  # one faiss index header: its type's four letters, dimensions, count, constants, metric


def _vectors(index_dir: Path) -> Path:
    return index_dir / read_manifest(index_dir).generation / "vectors.faiss"


def _write(path: Path, offset: int, data: bytes) -> None:
    content = bytearray(path.read_bytes())
    content[offset:offset + len(data)] = data
    path.write_bytes(bytes(content))


def _id_count_offset(index_dir: Path) -> int:
    """Where the vector file counts its ids: before one int64 id per passage, at the end."""
    return _vectors(index_dir).stat().st_size - 8 * read_manifest(index_dir).passages - 8


@pytest.mark.parametrize(
    ("where", "data"),
    [
        (lambda index_dir: 16, b"\x7f" * 4),  # a constant of the header: faiss ignored it, --check said consistent
        (_id_count_offset, b"\xff" * 4),  # the id count: faiss raised MemoryError through --check
        (lambda index_dir: _id_count_offset(index_dir) + 8, b"\x7f" * 4),  # an id: faiss raised RuntimeError through --check
    ],
    ids=["header-constant", "id-count", "an-id"],
)
def test_check_names_the_vector_file_whatever_bytes_are_flipped(built_index: Path, where, data: bytes) -> None:
    vectors = _vectors(built_index)
    _write(vectors, where(built_index), data)
    result = check_index(built_index)
    assert not result.consistent
    assert result.problems and all(p.startswith(f"{vectors}") and "--rebuild" in p for p in result.problems)


def test_check_names_a_vector_file_faiss_would_abort_on(tmp_path: Path, corpus_dir: Path) -> None:
    """Zero dimensions in the header made faiss abort the process; run in a child process so
    that, were it to happen again, this test fails instead of the suite dying."""
    index_dir = tmp_path / "ix"
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(corpus_dir), "--index", str(index_dir), "--model", "test/hashing-bag-of-words"]).exit_code == 0
    vectors = _vectors(index_dir)
    _write(vectors, 4, b"\0" * 4)
    code = "import sys, tests.conftest, cli; sys.argv = ['accord', 'index', '--check', '--index', sys.argv[1]]; cli.main()"
    done = subprocess.run([sys.executable, "-c", code, str(index_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    print(done.stdout, done.stderr)
    assert done.returncode == 1
    assert done.stdout.startswith(f"problem: {vectors} is damaged (its headers give 0 and 64 dimensions, the manifest 64)")


def test_check_through_the_cli_names_flipped_ids(built_index: Path) -> None:
    vectors = _vectors(built_index)
    _write(vectors, _id_count_offset(built_index) + 8, b"\x7f" * 4)
    result = CliRunner().invoke(app, ["index", "--check", "--index", str(built_index)])
    print(result.output)
    assert result.exit_code == 1 and result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith(f"problem: {vectors}") for line in lines)


def test_a_lock_that_is_a_folder_is_a_problem_check_names(built_index: Path, corpus_dir: Path) -> None:
    lock = built_index / ".lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    runner = CliRunner()
    update = runner.invoke(app, ["index", str(corpus_dir), "--index", str(built_index)])
    assert update.exit_code == 1 and str(lock) in update.stderr  # every update fails ...
    check = runner.invoke(app, ["index", "--check", "--index", str(built_index)])
    print(check.output)
    assert check.exit_code == 1  # ... and --check says why
    assert check.stdout == f"problem: {lock} is a folder, not the writers' lock file, so every update fails; remove it (the next update makes a new one)\n"
    lock.rmdir()
    assert runner.invoke(app, ["index", str(corpus_dir), "--index", str(built_index)]).exit_code == 0
    assert runner.invoke(app, ["index", "--check", "--index", str(built_index)]).exit_code == 0


def test_leases_that_cannot_be_locked_are_problems_check_names(built_index: Path) -> None:
    leases = built_index / "locks"
    generation = read_manifest(built_index).generation
    leases.mkdir(exist_ok=True)
    lease = leases / f"{generation}.lock"
    lease.unlink(missing_ok=True)
    lease.mkdir()
    assert check_index(built_index).problems == [
        f"{lease} is a folder, not a reader's lease file, so searches of its generation run without one; remove it"
    ]
    lease.rmdir()
    leases.rmdir()
    leases.write_text("")
    assert check_index(built_index).problems == [
        f"{leases} is a file, not the folder of the readers' leases, so searches run without one "
        "and an update may remove a generation in use; remove it"
    ]
