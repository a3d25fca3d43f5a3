"""Reading inputs: .txt and .jsonl articles, and every way a file can be unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.errors import SourceNotFound
from index.text.articles import Article, Skipped, iter_input_files, read_articles


def read(path: Path) -> list[Article | Skipped]:
    return list(read_articles(path))


def test_text_file_becomes_article_with_stem_as_id(corpus_dir: Path):
    (article,) = read(corpus_dir / "libya.txt")
    assert article.id == "libya"
    assert article.title == "Russia may resume military cooperation with Libya"
    assert (article.date, article.source) == ("2012-08-22", "Xinhua")
    assert article.path == str(corpus_dir / "libya.txt")


def test_jsonl_keeps_ids_verbatim_and_accepts_collection_aliases(tmp_path: Path):
    path = tmp_path / "docs.jsonl"
    path.write_text(
        json.dumps({"id": "A/1 x", "title": "T", "body": "Body  text.\n\nSecond.", "url": "http://x"}) + "\n"
        + json.dumps({"docno": "017", "text": "NO TITLE HERE. MORE.", "date": "02/08/63"}) + "\n"
        + json.dumps({"newid": 5, "title": "T", "dateline": "CHICAGO, Feb 26 -", "body": "Dean Foods said."}) + "\n"
    )
    first, second, third = read(path)
    assert (third.id, third.body) == ("5", "CHICAGO, Feb 26 - Dean Foods said.")
    assert (first.id, first.title, first.body, first.url) == ("A/1 x", "T", "Body text.\n\nSecond.", "http://x")
    assert (second.id, second.title, second.date) == ("017", "NO TITLE HERE.", "1963-02-08")
    assert second.path == f"{path}:2"


def test_bad_jsonl_lines_are_skipped_by_line_and_the_rest_kept(tmp_path: Path):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "body": "Fine."}\n{broken\n[1, 2]\n{"id": "no-body"}\n\n')
    items = read(path)
    assert [i.id for i in items if isinstance(i, Article)] == ["ok"]
    skipped = {i.path: i.reason for i in items if isinstance(i, Skipped)}
    assert set(skipped) == {f"{path}:2", f"{path}:3", f"{path}:4"}
    assert "not valid JSON" in skipped[f"{path}:2"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "no article text"), (b"\x00\x01binary\x00", "binary"), (b"| | |\n0 73\n", "no article text")],
)
def test_unusable_text_files_are_skipped_with_a_reason(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    (item,) = read(path)
    assert isinstance(item, Skipped) and reason in item.reason and item.path == str(path)


def test_windows_1252_text_is_decoded(tmp_path: Path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\u00e9 talks\nThe caf\u00e9 hosted defence talks in Paris today.\n".encode("cp1252"))
    (article,) = read(path)
    assert "café hosted" in article.body


def test_input_files_are_found_recursively_in_order_skipping_hidden(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b/2.txt", "1.jsonl", "notes.md", ".hidden/3.txt", "b/README.TXT"):
        (tmp_path / name).write_text("x")
    assert [p.relative_to(tmp_path).as_posix() for p in iter_input_files([tmp_path])] == ["1.jsonl", "b/2.txt"]


def test_missing_path_or_wrong_kind_raises_before_reading(tmp_path: Path):
    with pytest.raises(SourceNotFound, match="no such file"):
        list(iter_input_files([tmp_path / "missing"]))
    other = tmp_path / "a.pdf"
    other.write_text("x")
    with pytest.raises(SourceNotFound, match="not an input file"):
        list(iter_input_files([other]))
