"""A huge article beside a small one: the small one is searchable first, the huge one is warned
about the moment it is met, and its near-duplicate signature stays cheap."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from index.errors import AccordError
from index.pipeline.builder import LargeFiles, build
from index.text.duplicates import MAX_WORDS, signature
from search.engine import Engine
from tests.conftest import HashingEncoder

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_SECONDS = 600.0  # generous: the check is the order of events, never their speed

# The build runs in its own process so that the test can end it once it has seen what it needs.
BUILD_SCRIPT = """
import sys
from index.pipeline.builder import build
from tests.conftest import HashingEncoder

def warn(line):
    print("WARNING " + line, file=sys.stderr, flush=True)

build([sys.argv[1]], sys.argv[2], encoder=HashingEncoder(), on_warning=warn)
print("BUILD DONE", file=sys.stderr, flush=True)
"""


def write_huge_article(path: Path, megabytes: int) -> None:
    """One article of `megabytes` MB: a title line, then paragraphs of varied sentences."""
    with path.open("w", encoding="utf-8") as out:
        out.write("The Long Report on Naval Cooperation\n")
        written, number = 0, 0
        while written < megabytes * 1_000_000:
            paragraph = (
                f"Delegation {number} met officials at the harbour and discussed training plan {number % 977}. "
                f"The navies agreed on exercise {number % 131} and on deliveries of spare parts in year {number % 53}. "
                f"Observers said talks number {number} went well.\n\n"
            )
            out.write(paragraph)
            written += len(paragraph)
            number += 1


def _searchable(index_dir: Path, word: str) -> tuple[list[str], int] | None:
    """(ids found for `word`, articles in the live generation), or None while there is no index."""
    try:
        with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
            return [hit.id for hit in engine.search(word, mode="keyword")], engine.manifest.articles
    except AccordError:
        return None


def test_a_small_article_is_searchable_before_a_huge_one_beside_it_is_indexed(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    # "a_" sorts first: read in path order, the huge file would hold the small one back.
    write_huge_article(source / "a_huge.txt", 50)
    (source / "b_small.txt").write_text("Navies Meet Off Peru\nThe navies of Chile and Peru held a drill off Callao.\n")
    index_dir = tmp_path / "index"
    process = subprocess.Popen(
        [sys.executable, "-c", BUILD_SCRIPT, str(source), str(index_dir)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stderr or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + DEADLINE_SECONDS
        found = None
        while time.monotonic() < deadline and process.poll() is None:
            found = _searchable(index_dir, "Callao")
            if found and found[0]:
                break
            time.sleep(0.2)
        assert found and found[0] == ["b_small"], f"the small article never became searchable: {lines}"
        # Published in a generation that holds it alone: the huge one comes after it.
        assert found[1] == 1
        # The warning about the huge file was printed as it was met, before the build ended.
        assert any(line.startswith("WARNING ") and "a_huge.txt is 50.0 MB" in line for line in lines)
        assert not any("BUILD DONE" in line for line in lines)
    finally:
        process.kill()  # a killed build keeps what it published
        process.wait()
        reader.join(timeout=10)


def test_the_huge_article_is_indexed_whole_after_the_others(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    write_huge_article(source / "a_huge.txt", 1)
    (source / "b_small.txt").write_text("Navies Meet Off Peru\nThe navies of Chile and Peru held a drill off Callao.\n")
    warnings: list[str] = []
    report = build([source], tmp_path / "index", encoder=HashingEncoder(), large_files=LargeFiles(max_mb=0.5),
                   on_warning=warnings.append)
    assert report.articles == 2 and report.generations == 2
    assert warnings == report.warnings and "a_huge.txt is 1.0 MB (over 0.5 MB)" in warnings[0]
    with Engine.open(tmp_path / "index", encoder=HashingEncoder()) as engine:
        assert [h.id for h in engine.search("Callao", mode="keyword")] == ["b_small"]
        assert [h.id for h in engine.search("Delegation 7000", mode="keyword")][:1] == ["a_huge"]
    # Nothing changed: the next update changes and embeds nothing.
    again = build([], tmp_path / "index", encoder=HashingEncoder(), large_files=LargeFiles(max_mb=0.5))
    assert (again.articles, again.added, again.updated, again.removed, again.embedded) == (2, 0, 0, 0, 0)


def test_a_huge_texts_signature_reads_only_its_start() -> None:
    start = " ".join(f"w{n}" for n in range(MAX_WORDS))
    # Equal first MAX_WORDS words: the same signature, however much the rest differs.
    one = signature(start + " " + " ".join(f"x{n}" for n in range(2 * MAX_WORDS)))
    other = signature(start + " " + " ".join(f"y{n}" for n in range(2 * MAX_WORDS)))
    assert (one == other).all()


def test_a_refused_file_is_judged_by_its_size_alone(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    write_huge_article(source / "a_huge.txt", 1)
    warned: list[str] = []
    report = build([source], tmp_path / "index", encoder=HashingEncoder(),
                   large_files=LargeFiles(max_mb=0.5, refuse=True), on_warning=warned.append)
    assert [s.reason for s in report.skipped] == ["is 1.0 MB, over the 0.5 MB limit; pass --max-file-mb 2 to index it"]
    assert warned == [] and report.articles == 0


def test_the_cli_prints_a_large_file_warning_once(tmp_path: Path, corpus_dir: Path) -> None:
    from typer.testing import CliRunner

    from cli import app
    from tests.conftest import FAKE_MODEL

    write_huge_article(corpus_dir / "huge.txt", 1)
    result = CliRunner().invoke(
        app, ["index", str(corpus_dir), "--index", str(tmp_path / "ix"), "--model", FAKE_MODEL, "--max-file-mb", "0.5"]
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("accord: warning:")]
    assert len(warnings) == 1 and "huge.txt is 1.0 MB (over 0.5 MB)" in warnings[0] and "indexed last" in warnings[0]
    assert "Indexed 5 articles" in result.output
