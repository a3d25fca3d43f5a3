"""Fuzzing the input side: random bytes, encodings, control characters, file names and JSON field
types. A build never raises, every record of the new file is either indexed or reported, and
the articles indexed before are intact and searchable."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index.pipeline.builder import build
from index.storage.docstore import generation_docstore
from index.storage.manifest import read_manifest
from index.text.normalise import decode_bytes, display_path
from search.engine import Engine
from tests.conftest import CORPUS, JSONL_RECORDS, HashingEncoder

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "cp1252", "latin-1", "cp1251"]
# Characters that broke inputs before: controls, escapes, surrogates, separators, bidi overrides.
HOSTILE = st.sampled_from(["\x00", "\x1b[2J", "\x1b]0;t\x07", "\ud800", "\udfff", "\r", "\x0c", "\x85", "\u2028", "\u202e", "\t"])
words = st.sampled_from(["navy", "treaty", "arms", "Libya", "missile", "deal", "signed", "talks", "Café", "Москва"])


def prose(min_words: int = 0):
    """Words with hostile characters mixed in."""
    parts = st.lists(st.one_of(words, words, HOSTILE, HOSTILE, st.just(" "), st.just(". "), st.just("\n")), min_size=min_words, max_size=60)
    return parts.map("".join)


@st.composite
def texts(draw) -> str:
    """Prose-like text with hostile characters mixed in, or anything at all."""
    return draw(st.one_of(prose(), st.text(max_size=200)))


def encode(text: str, encoding: str) -> bytes:
    if encoding.startswith("utf"):
        return text.encode(encoding, "surrogatepass")  # lone surrogates become invalid bytes
    return text.encode(encoding, "replace")


json_values = st.one_of(
    texts(), st.none(), st.integers(-10**30, 10**30), st.floats(allow_nan=True), st.booleans(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.sampled_from(["en", "fr"]), st.text(max_size=5), max_size=2),
)
FIELDS = ["id", "docno", "newid", "title", "body", "text", "date", "source", "url", "dateline"]


@st.composite
def jsonl_line(draw) -> bytes:
    kind = draw(st.sampled_from(["real", "real", "real", "typed", "garbage", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=80)).replace(b"\n", b" ")
    if kind == "garbage":
        return encode(draw(st.text(max_size=80)).replace("\n", " "), "utf-8")
    if kind == "typed":  # any field, any JSON type
        record = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6))
    else:  # string fields with hostile text, so that the indexed path is fuzzed too
        optional = st.dictionaries(st.sampled_from(["title", "date", "source", "url", "dateline"]), texts(), max_size=4)
        record = draw(optional)
        record["id"] = draw(st.one_of(st.text(min_size=1, max_size=8), st.integers(0, 50)))
        record["body"] = draw(prose(min_words=3)) + " navy deal."
    # ASCII JSON carries lone surrogates as escapes ("\\ud800"); raw, they are invalid UTF-8.
    line = json.dumps(record, ensure_ascii=draw(st.sampled_from([True, True, False])))
    return line.encode("utf-8", "surrogatepass")


@st.composite
def input_files(draw) -> tuple[bytes, bytes]:
    """(file name as bytes, content)."""
    odd_names = [b"caf\xe9", b"esc\x1b[2J", b"\xff\xfe", "日本".encode()]
    stem = draw(st.one_of(st.just(b"fuzz"), st.just(b"fuzz"), st.just(b"fuzz"), st.sampled_from(odd_names)))
    if draw(st.booleans()):
        lines = draw(st.lists(jsonl_line(), max_size=8))
        separator = draw(st.sampled_from([b"\n", b"\r\n"]))
        return stem + b".jsonl", separator.join(lines) + separator
    if draw(st.booleans()):
        return stem + b".txt", draw(st.binary(max_size=400))
    title = " ".join(draw(st.lists(words, min_size=1, max_size=5)))
    body = draw(texts()) + " " + " ".join(draw(st.lists(words, min_size=3, max_size=30))) + "."
    return stem + b".txt", encode(f"{title}\n{body}\n", draw(st.sampled_from(ENCODINGS)))


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A first corpus and its index, built once; each example works on a copy of the index."""
    root = tmp_path_factory.mktemp("fuzz-base")
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    (corpus / "extra.jsonl").write_text("".join(json.dumps(r) + "\n" for r in JSONL_RECORDS))
    index_dir = root / "index"
    build([corpus], index_dir, encoder=HashingEncoder())
    with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
        before = engine.articles(article_ids(index_dir))
    return corpus, index_dir, before


def article_ids(index_dir: Path) -> set[str]:
    store = generation_docstore(index_dir / read_manifest(index_dir).generation)
    try:
        return store.article_ids()
    finally:
        store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(file=input_files())
def test_a_fuzzed_file_is_indexed_or_reported_and_the_index_stays_intact(base, file):
    _corpus, base_index, before = base
    name, content = file
    with tempfile.TemporaryDirectory() as scratch:
        index_dir = Path(scratch) / "index"
        shutil.copytree(base_index, index_dir)
        added = Path(scratch) / "added"
        added.mkdir()
        path = Path(os.fsdecode(os.path.join(os.fsencode(added), name)))
        with open(os.fsencode(path), "wb") as handle:
            handle.write(content)

        print("EX", name, b"\\ud8" in content, content[:400]) if b"\\ud8" in content else None
        report = build([added], index_dir, encoder=HashingEncoder())  # must not raise

        shown = display_path(path)
        assert all(s.path == shown or s.path.startswith(f"{shown}:") for s in report.skipped), report.skipped
        with Engine.open(index_dir, encoder=HashingEncoder()) as engine:
            after = engine.articles(article_ids(index_dir))
            new = {i: a for i, a in after.items() if i not in before}
            # What was indexed before is intact and still found by its own title.
            assert {i: after.get(i) for i in before} == before
            for article_id, article in before.items():
                hits = engine.search(article.title, k=10, mode="keyword", collapse=False)
                assert article_id in [h.id for h in hits]
        assert report.added == len(new) and report.updated == report.removed == 0

        whole_file = [s for s in report.skipped if s.path == shown]
        if whole_file or not name.endswith(b".jsonl"):
            # A .txt is one record; an unusable file (name, encoding) is reported once, as a whole.
            assert len(new) + len(report.skipped) == 1
            return
        text = decode_bytes(content)
        records = {n for n, line in enumerate(text.split("\n"), start=1) if line.strip()}
        reported = [int(s.path.rsplit(":", 1)[1]) for s in report.skipped]
        indexed = [int(a.path.rsplit(":", 1)[1]) for a in new.values()]
        assert sorted(reported + indexed) == sorted(records)
