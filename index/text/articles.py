"""Articles: the cleaned unit Accord indexes, and reading them from `.txt` and `.jsonl` files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index.text.cleaning import clean_raw_article, normalise_body, parse_date, title_from_body
from index.errors import SourceNotFound

TEXT_SUFFIX = ".txt"
JSONL_SUFFIX = ".jsonl"

# JSONL field names accepted for each Article field, first match wins. The aliases let standard
# collections load as they are: TIME uses `docno`/`text`, Reuters-21578 uses `newid` (and keeps
# its `dateline` apart from the body, where wire copy has it).
ID_FIELDS = ("id", "docno", "newid")
BODY_FIELDS = ("body", "text")


@dataclass(frozen=True)
class Article:
    """One cleaned news article.

    `date` is an ISO date (YYYY-MM-DD) or None when the source does not say; `path` is the file
    it came from (for JSONL, `file:line`). `countries` are found in the text at index time.
    `title_derived` is True when the input gave no title and `title` was made from the body.
    """

    id: str
    title: str
    body: str
    date: str | None
    source: str | None
    url: str | None
    path: str
    countries: tuple[str, ...] = ()
    title_derived: bool = False

    @property
    def title_is_derived(self) -> bool:
        """True when the title is only the start of the body because the input had none.

        Such a title adds nothing to search: it is not indexed as a title nor put in front of
        passages, which would count the first sentence twice. A title the input gave (a JSONL
        `title`, a header line) is real even when the body repeats it, as Cranfield's bodies do.
        """
        return self.title_derived

    @property
    def content_hash(self) -> str:
        """A hash of the article as read: equal hashes mean nothing to redo (countries derive from it)."""
        parts = (self.title, self.body, self.date or "", self.source or "", self.url or "")
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Skipped:
    """An input that was not indexed, with the reason in words."""

    path: str
    reason: str


def iter_input_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield every `.txt` and `.jsonl` file under `paths` (files or folders) in sorted order.

    Raises SourceNotFound for a path that does not exist or a file of another kind, before any
    file is yielded, so a typo never half-updates an index.
    """
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise SourceNotFound(f"{root}: no such file or folder; pass a folder or a .txt/.jsonl file")
        if root.is_file() and root.suffix not in (TEXT_SUFFIX, JSONL_SUFFIX):
            raise SourceNotFound(f"{root}: not a .txt or .jsonl file; pass a folder or a .txt/.jsonl file")
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
            if path.is_file() and not hidden and path.suffix in (TEXT_SUFFIX, JSONL_SUFFIX):
                yield path


def text_article_id(path: Path, roots: Iterable[Path]) -> str:
    """A .txt article's id: its path under the source folder it was found in, without the suffix
    ("business/001" for bbc/business/001.txt), so equal file names in subfolders never collide;
    for a file directly in the folder, or given by itself, that is its name's stem."""
    for root in roots:
        if root.is_dir():
            try:
                return path.relative_to(root).with_suffix("").as_posix()
            except ValueError:
                continue
    return path.stem


def read_articles(path: Path, data: bytes | None = None) -> Iterator[Article | Skipped]:
    """Read one input file (or its bytes, already read) into Articles; bad parts become Skipped."""
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as err:
            yield Skipped(str(path), f"cannot be read ({err.strerror})")
            return
    if path.suffix == JSONL_SUFFIX:
        yield from _read_jsonl(path, data)
    else:
        yield _read_text(path, data)


def decode_text(data: bytes) -> str | None:
    """Decode a text file's bytes: UTF-8, else Windows-1252 (old news archives); None if binary."""
    if b"\x00" in data:
        return None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return None


def _read_text(path: Path, data: bytes) -> Article | Skipped:
    text = decode_text(data)
    if text is None:
        return Skipped(str(path), "binary or undecodable; expected UTF-8 text")
    cleaned = clean_raw_article(text)
    if not cleaned.body:
        return Skipped(str(path), "no article text after cleaning (empty file?)")
    return Article(
        id=path.stem,
        title=cleaned.title,
        body=cleaned.body,
        date=cleaned.date,
        source=cleaned.source,
        url=None,
        path=str(path),
        title_derived=cleaned.title_derived,
    )


def _first_field(record: dict, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = record.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _read_jsonl(path: Path, data: bytes) -> Iterator[Article | Skipped]:
    text = decode_text(data)
    if text is None:
        yield Skipped(str(path), "binary or undecodable; expected UTF-8 JSON lines")
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            yield Skipped(where, f"not valid JSON ({err.msg})")
            continue
        if not isinstance(record, dict):
            yield Skipped(where, "not a JSON object")
            continue
        article_id = _first_field(record, ID_FIELDS)
        body = _first_field(record, BODY_FIELDS)
        if article_id is None or body is None:
            yield Skipped(where, "needs an 'id' and a 'body'")
            continue
        body = normalise_body(body)
        dateline = _first_field(record, ("dateline",))
        if dateline and not body.startswith(dateline):
            # Wire copy keeps its dateline ("CHICAGO, Feb 26 -") at the head of the body.
            body = f"{dateline} {body}"
        title = _first_field(record, ("title",))
        yield Article(
            id=article_id,
            title=title or title_from_body(body),
            body=body,
            date=parse_date(_first_field(record, ("date",)) or ""),
            source=_first_field(record, ("source",)),
            url=_first_field(record, ("url",)),
            path=where,
            title_derived=title is None,
        )
