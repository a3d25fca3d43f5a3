"""Hostile and broken input records: each is indexed (normalised) or skipped with file, line and
reason, and never stops the rest of the build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from index.pipeline.builder import build
from index.text.articles import Article, Skipped, read_articles
from index.text.normalise import clean_text, decode_bytes, display_path
from search.engine import Engine
from tests.conftest import HashingEncoder


def read(path: Path) -> list[Article | Skipped]:
    return list(read_articles(path))


def write_jsonl(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def skipped_by_path(items) -> dict[str, str]:
    return {i.path: i.reason for i in items if isinstance(i, Skipped)}


def test_a_lone_surrogate_escape_is_replaced_and_the_build_goes_on(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    write_jsonl(
        source / "a.jsonl",
        json.dumps({"id": "ok", "body": "Navies held a joint exercise."}),
        '{"id": "s", "title": "Bad \\ud800 title", "body": "Missile talks \\udfff resumed in Moscow."}',
    )
    report = build([source], tmp_path / "ix", encoder=HashingEncoder())
    assert (report.added, report.skipped) == (2, [])
    with Engine.open(tmp_path / "ix", encoder=HashingEncoder()) as engine:
        article = engine.article("s")
        assert (article.title, article.body) == ("Bad \ufffd title", "Missile talks \ufffd resumed in Moscow.")
        assert [h.id for h in engine.search("missile", mode="keyword")] == ["s"]


def test_nul_and_control_characters_are_dropped_from_text_and_json(tmp_path):
    lead = b"The navies\x00 met in\x07 Oslo\x0bto talk."
    more = b" Officials from both countries said the talks on naval cooperation went well." * 3
    (tmp_path / "a.txt").write_bytes(b"Talks \x1b[2Jresume\n" + lead + more + b"\r\n")
    (article,) = read(tmp_path / "a.txt")
    assert article.title == "Talks [2Jresume"
    assert article.body == "The navies met in Oslo to talk." + more.decode()
    path = write_jsonl(tmp_path / "b.jsonl", '{"id": "x", "body": "Raw\ttab and \\u0000NUL\\u001b[31m red."}')
    (record,) = read(path)
    assert record.body == "Raw tab and NUL[31m red."


@pytest.mark.parametrize(
    "encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1251", "cp1252"]
)
def test_text_files_in_any_common_encoding_are_decoded(tmp_path, encoding):
    text = (
        "Москва и Триполи обсудили поставки оружия\nМинистры обороны встретились в Москве и подписали соглашение.\n"
        if encoding == "cp1251"
        else "Café talks\nThe café in Paris hosted defence talks on Monday, officials said.\n"
    )
    path = tmp_path / "a.txt"
    path.write_bytes(text.encode(encoding))
    (article,) = read(path)
    assert isinstance(article, Article), article
    assert article.body == text.splitlines()[1]


def test_latin_1_pound_sign_in_mostly_english_text_is_read_as_windows_1252():
    # Guessing on one non-ASCII byte picks a Japanese code page for "£" (BBC sport/199.txt).
    assert decode_bytes(b"a \xa315.8m signing from Parma, the club said on Monday.") == (
        "a £15.8m signing from Parma, the club said on Monday."
    )


def test_binary_is_not_text():
    assert decode_bytes(bytes(range(256)) * 8) is None
    assert decode_bytes(b"\x00\x01binary\x00") is None


def test_clean_text_composes_and_keeps_newlines_and_tabs():
    assert clean_text("cafe\u0301\r\nline\rtwo\tx\x85y") == "café\nline\ntwo\tx y"


def test_a_file_name_that_is_not_utf8_is_reported_by_name_and_the_rest_indexed(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "ok.txt").write_text("Navy drills\nThe navies held drills off the coast today.\n")
    bad = os.path.join(os.fsencode(source), b"caf\xe9.txt")
    with open(bad, "wb") as handle:
        handle.write(b"Other drills\nMore drills were held in the north, officials said.\n")
    report = build([source], tmp_path / "ix", encoder=HashingEncoder())
    assert report.added == 1
    assert [(s.path, s.reason) for s in report.skipped] == [
        (f"{source}/caf\\xe9.txt", "file name is not valid UTF-8; rename the file to index it")
    ]
    again = build([], tmp_path / "ix", encoder=HashingEncoder())  # an update: still reported, nothing lost
    assert (again.articles, [s.path for s in again.skipped]) == (1, [f"{source}/caf\\xe9.txt"])


def test_display_path_escapes_bad_bytes_and_controls():
    assert display_path("dir/caf\udce9\x1b[2J.txt") == "dir/caf\\xe9\\x1b[2J.txt"


def test_numeric_and_string_ids_are_the_same_id_and_the_second_is_reported(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        json.dumps({"newid": 5, "body": "First."}),
        json.dumps({"id": "5", "body": "Second."}),
    )
    first, second = read(path)
    assert (first.id, first.body) == ("5", "First.")
    assert second == Skipped(f"{path}:2", "duplicate id '5' (first on line 1)")


def test_a_repeated_id_in_one_file_keeps_the_first_and_reports_the_rest(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    write_jsonl(
        source / "a.jsonl",
        json.dumps({"id": "a", "title": "First", "body": "The first story about tanks."}),
        json.dumps({"id": "b", "body": "Another story."}),
        json.dumps({"id": "a", "title": "Second", "body": "A later story about ships."}),
    )
    report = build([source], tmp_path / "ix", encoder=HashingEncoder())
    assert report.added == 2
    assert [(s.path, s.reason) for s in report.skipped] == [
        (f"{source}/a.jsonl:3", "duplicate id 'a' (first on line 1)")
    ]
    with Engine.open(tmp_path / "ix", encoder=HashingEncoder()) as engine:
        assert engine.article("a").title == "First"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"id": "x", "title": {"en": "Nested"}, "body": "B."}, "field 'title' is an object; expected a string"),
        ({"id": "x", "body": ["a", "b"]}, "field 'body' is a list; expected a string"),
        ({"id": "x", "title": 7, "body": "B."}, "field 'title' is a number; expected a string"),
        ({"id": "x", "body": "B.", "date": 2019}, "field 'date' is a number; expected a string"),
        ({"id": "x", "body": "B.", "url": True}, "field 'url' is true/false; expected a string"),
        ({"id": 5.0, "body": "B."}, "field 'id' is a number; ids are strings or whole numbers"),
        ({"id": True, "body": "B."}, "field 'id' is true/false; ids are strings or whole numbers"),
        ({"id": {"a": 1}, "body": "B."}, "field 'id' is an object; ids are strings or whole numbers"),
        ({"id": "a\x1bb", "body": "B."}, "id 'a\\\\x1bb' holds control characters or invalid surrogates; fix it in the file"),
        ({"id": "a\ud800", "body": "B."}, "id 'a\\\\ud800' holds control characters or invalid surrogates; fix it in the file"),
        ({"title": {"x": 1}}, "field 'title' is an object; expected a string"),
    ],
)
def test_fields_of_the_wrong_type_reject_the_record_naming_file_line_and_field(tmp_path, record, reason):
    path = write_jsonl(tmp_path / "a.jsonl", json.dumps({"id": "ok", "body": "Fine."}), json.dumps(record))
    items = read(path)
    assert [i.id for i in items if isinstance(i, Article)] == ["ok"]
    assert skipped_by_path(items) == {f"{path}:2": reason}


def test_json_oddities_are_skipped_or_read_never_raised(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        '{"id": "big", "body": "x", "n": ' + "9" * 5000 + "}",
        "[" * 100_000,
        '{"id": "sep", "body": "One\u2028record, with a line separator."}',
        '{"id": "null-body", "body": null, "text": "Falls back to text."}',
    )
    items = read(path)
    articles = {i.id: i for i in items if isinstance(i, Article)}
    assert set(articles) == {"sep", "null-body"}
    assert articles["null-body"].body == "Falls back to text."
    assert set(skipped_by_path(items)) == {f"{path}:1", f"{path}:2"}
