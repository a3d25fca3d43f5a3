"""The watchlist when its disk fails: on a genuinely full filesystem (a small tmpfs, where this
machine lets the test mount one) and under a file-size limit (everywhere), listing the saved
searches still works and every command that saves is one line naming the file."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from index.pipeline.builder import build
from search.engine import Engine
from search.views.watchlist import add_search
from tests.conftest import CORPUS, HashingEncoder

ROOT = Path(__file__).resolve().parent.parent
# Each command that saves, with the saved search "libya" on the list.
SAVING = [["watchlist", "add", "navy", "navy"], ["alerts"], ["watchlist", "remove", "libya"]]


def _index_with_a_saved_search(folder: Path) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    index_dir = folder / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        add_search(engine, "libya", "libya")
    return index_dir


def _fill(folder: Path) -> None:
    """Write a file in `folder` until its filesystem has no space left."""
    block = b"\0" * 4096
    with open(folder / "filler", "wb", buffering=0) as filler:
        while True:
            try:
                filler.write(block)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                return


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted in tmp_path; skips where mounting is refused (not root, a container)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command to make a small filesystem")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs to fill: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def _one_line_naming(result, watchlist: Path, reason: str) -> None:
    print(result.output)  # shown when an assertion fails
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"accord: error: cannot save to the watchlist {watchlist}: ")
    assert reason in result.stderr


def test_a_full_disk_lists_saved_searches_and_refuses_saves_in_one_line(small_disk: Path) -> None:
    index_dir = _index_with_a_saved_search(small_disk)
    watchlist = index_dir / "watchlist.sqlite"
    _fill(small_disk)
    assert shutil.disk_usage(small_disk).free == 0
    runner = CliRunner()

    listed = runner.invoke(app, ["watchlist", "list", "--index", str(index_dir)])
    print(listed.output)
    assert listed.exit_code == 0 and listed.stdout.startswith("libya: 'libya'")
    for command in SAVING:
        result = runner.invoke(app, [*command, "--index", str(index_dir)])
        _one_line_naming(result, watchlist, "its disk is full (0 bytes free): free some space and retry")

    # Space freed: the watchlist is as it was, and saves again.
    (small_disk / "filler").unlink()
    assert runner.invoke(app, ["watchlist", "add", "navy", "navy", "--index", str(index_dir)]).exit_code == 0
    listed = runner.invoke(app, ["watchlist", "list", "--index", str(index_dir), "--json"])
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["libya", "navy"]


# Runs the commands in a child process that may not make any file larger (RLIMIT_FSIZE 0), as
# a full disk does: SQLite then cannot make the files a WAL reader and a writer need.
LIMITED = textwrap.dedent("""
    import json, resource, signal, sys
    import tests.conftest  # the fake encoder
    from typer.testing import CliRunner
    from cli import app

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    runner = CliRunner()
    index_dir, commands = sys.argv[1], json.loads(sys.argv[2])
    results = [runner.invoke(app, [*command, "--index", index_dir]) for command in commands]
    print(json.dumps([[r.exit_code, r.stdout, r.stderr] for r in results]))
""")


def test_under_a_file_size_limit_saved_searches_list_and_saves_are_one_line(tmp_path: Path) -> None:
    pytest.importorskip("resource", reason="file-size limits are a Unix feature")
    index_dir = _index_with_a_saved_search(tmp_path)
    watchlist = index_dir / "watchlist.sqlite"
    commands = [["watchlist", "list"], *SAVING]
    done = subprocess.run([sys.executable, "-c", LIMITED, str(index_dir), json.dumps(commands)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    (listed_code, listed, _), *saving = json.loads(done.stdout)
    assert listed_code == 0 and listed.startswith("libya: 'libya'")
    for code, stdout, stderr in saving:
        print(stderr)
        assert code == 1 and stdout == "" and stderr.count("\n") == 1
        assert stderr.startswith(f"accord: error: cannot save to the watchlist {watchlist}: disk I/O error")


def test_a_damaged_watchlist_is_one_line_naming_it(tmp_path: Path) -> None:
    index_dir = _index_with_a_saved_search(tmp_path)
    watchlist = index_dir / "watchlist.sqlite"
    watchlist.write_bytes(os.urandom(4096))
    result = CliRunner().invoke(app, ["watchlist", "list", "--index", str(index_dir)])
    print(result.output)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"accord: error: cannot read the watchlist {watchlist}: file is not a database")
    assert "move it aside to start an empty watchlist" in result.stderr
