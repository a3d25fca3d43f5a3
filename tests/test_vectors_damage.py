"""A search over a vector file whose headers are damaged is one line, never an abort of the
process: faiss trusts the counts in the file, so the store reads the headers first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from tests.conftest import FAKE_MODEL
from tests.test_check_damage import _vectors, _write

ROOT = Path(__file__).resolve().parent.parent


def test_a_search_over_zero_dimension_headers_is_one_line(tmp_path: Path, corpus_dir: Path) -> None:
    index_dir = tmp_path / "ix"
    assert CliRunner().invoke(app, ["index", str(corpus_dir), "--index", str(index_dir), "--model", FAKE_MODEL]).exit_code == 0
    vectors = _vectors(index_dir)
    _write(vectors, 4, b"\0" * 4)  # zero dimensions: faiss aborted the whole process on it
    code = "import sys, tests.conftest, cli; sys.argv = ['accord', 'search', 'military cooperation', '--index', sys.argv[1]]; cli.main()"
    done = subprocess.run([sys.executable, "-c", code, str(index_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    print(done.stdout, done.stderr)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"accord: error: {vectors} is damaged (its headers give 0 and 64 dimensions); "
        "'accord index --rebuild' rebuilds the index"
    ]
