"""Articles: the cleaned unit Accord indexes, and reading them from input files.

Inputs: `.txt` (one scraped article), `.html`/`.htm` (one news page; the `html` extra), `.jsonl`
(one article per line), `.csv`/`.tsv` (one article per row), each also compressed as `.gz`,
`.bz2` or `.xz`. The kind is told by the suffixes, never guessed from the content.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import lzma
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from index.errors import SourceNotFound
from index.text.cleaning import clean_raw_article, normalise_body, parse_date, title_from_body
from index.text.normalise import clean_text, decode_bytes, display_path, has_unsafe_characters, is_storable_path

TEXT_SUFFIX = ".txt"
JSONL_SUFFIX = ".jsonl"
# suffix -> kind of input; a compression suffix may follow any of them.
KINDS = {".txt": "text", ".jsonl": "jsonl", ".csv": "csv", ".tsv": "tsv", ".html": "html", ".htm": "html"}
DECOMPRESS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
# Kinds that hold one article per file: the id comes from the file's path.
ONE_ARTICLE_KINDS = ("text", "html")
SUPPORTED = ".txt, .html, .jsonl, .csv or .tsv (each also as .gz, .bz2 or .xz)"

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


@dataclass(frozen=True)
class ReadOptions:
    """How to read inputs that do not describe themselves: `columns` names the columns of a
    CSV/TSV file in order (`("class", "title", "body")` for AG News), for files without a header
    row; None means the header row names them."""

    columns: tuple[str, ...] | None = None


def input_kind(path: Path | str) -> tuple[str, str | None] | None:
    """(kind, compression suffix or None) of an input file by its suffixes, None if not an input:
    `a.jsonl.gz` is ("jsonl", ".gz"), `a.txt` ("text", None)."""
    suffixes = Path(path).suffixes  # case counts: BBC's README.TXT is no article
    compression = suffixes[-1] if suffixes and suffixes[-1] in DECOMPRESS else None
    rest = suffixes[:-1] if compression else suffixes
    kind = KINDS.get(rest[-1]) if rest else None
    return None if kind is None else (kind, compression)


def input_stem(path: Path | str) -> str:
    """The file's name without its input and compression suffixes ("reuters" for reuters.jsonl.gz)."""
    name = Path(path).name
    found = input_kind(path)
    if found is None:
        return Path(path).stem
    kind_suffix_len = len(Path(name[: len(name) - len(found[1] or "")]).suffix)
    return name[: len(name) - len(found[1] or "") - kind_suffix_len]


def is_input_file(path: Path | str) -> bool:
    """True when the name says the file is an input Accord reads (see `KINDS`)."""
    return input_kind(path) is not None


def iter_input_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yield every input file (see `SUPPORTED`) under `paths` (files or folders) in sorted order.

    Raises SourceNotFound for a path that does not exist or a file of another kind, before any
    file is yielded, so a typo never half-updates an index.
    """
    roots = [Path(p) for p in paths]
    for root in roots:
        if not root.exists():
            raise SourceNotFound(f"{root}: no such file or folder; pass a folder or a {SUPPORTED} file")
        if root.is_file() and not is_input_file(root):
            raise SourceNotFound(f"{root}: not an input file; pass a folder or a {SUPPORTED} file")
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(root).parts)
            if path.is_file() and not hidden and is_input_file(path):
                yield path


def text_article_id(path: Path, roots: Iterable[Path]) -> str:
    """A one-article file's id: its path under the source folder it was found in, without the
    suffixes ("business/001" for bbc/business/001.txt or 001.txt.gz), so equal file names in
    subfolders never collide; for a file directly in the folder, or given by itself, that is its
    name without suffixes."""
    for root in roots:
        if root.is_dir():
            try:
                relative = path.relative_to(root)
            except ValueError:
                continue
            return (relative.parent / input_stem(path)).as_posix()
    return input_stem(path)


def source_label(path: Path, roots: Iterable[Path]) -> str:
    """The name that qualifies an id taken by another source: a record file's name without
    suffixes ("reuters21578"), or for a one-article file the source folder it was found in
    ("politics" for a file under .../bbc/politics)."""
    found = input_kind(path)
    if found is not None and found[0] not in ONE_ARTICLE_KINDS:
        return input_stem(path)
    for root in roots:
        if root.is_dir() and path.is_relative_to(root):
            return root.name
    return path.parent.name


def qualified_id(article_id: str, label: str) -> str:
    """The source-qualified form of an id: `LABEL:ID` ("reuters21578:100")."""
    return f"{label}:{article_id}"


def unstorable_paths(files: Iterable[Path]) -> tuple[list[Path], list[Skipped]]:
    """Split `files` into those Accord can index and those whose name is not valid UTF-8.

    Such a name cannot be stored as a path or shown as an id, so the file is reported (with its
    bad bytes written as `\\xNN`) and skipped; renaming it is the way out.
    """
    usable: list[Path] = []
    skipped: list[Skipped] = []
    for path in files:
        if is_storable_path(path):
            usable.append(path)
        else:
            skipped.append(Skipped(display_path(path), "file name is not valid UTF-8; rename the file to index it"))
    return usable, skipped


def read_articles(path: Path, data: bytes | None = None, options: ReadOptions | None = None) -> Iterator[Article | Skipped]:
    """Read one input file (or its bytes, already read) into Articles; bad parts become Skipped.

    Never raises for what the file holds: every record is either an Article or a Skipped that
    names the file (and line) and the reason. A compressed file is decompressed first; an HTML
    page needs the `html` extra (the builder checks it before reading).
    """
    if not is_storable_path(path):
        yield Skipped(display_path(path), "file name is not valid UTF-8; rename the file to index it")
        return
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as err:
            yield Skipped(display_path(path), f"cannot be read ({err.strerror})")
            return
    kind, compression = input_kind(path) or ("text", None)
    if compression is not None:
        try:
            data = DECOMPRESS[compression](data)
        except (OSError, EOFError, ValueError, lzma.LZMAError) as err:
            yield Skipped(display_path(path), f"not a valid {compression[1:]} file ({str(err)[:80] or type(err).__name__}); "
                          "recompress it or remove the suffix")
            return
    if kind == "jsonl":
        yield from _read_jsonl(path, data)
    elif kind in ("csv", "tsv"):
        yield from _read_table(path, data, kind, options or ReadOptions())
    elif kind == "html":
        yield _read_html(path, data)
    else:
        yield _read_text(path, data)


def decode_text(data: bytes) -> str | None:
    """Decode and clean a file's bytes (any encoding, see `normalise.decode_bytes`); None if binary."""
    text = decode_bytes(data)
    return None if text is None else clean_text(text)


def _read_text(path: Path, data: bytes) -> Article | Skipped:
    text = decode_text(data)
    if text is None:
        return Skipped(display_path(path), "binary or undecodable; expected text (UTF-8, UTF-16 or a legacy code page)")
    cleaned = clean_raw_article(text)
    if cleaned.empty_reason is not None:
        return Skipped(display_path(path), cleaned.empty_reason)
    return Article(
        id=input_stem(path),
        title=cleaned.title,
        body=cleaned.body,
        date=cleaned.date,
        source=cleaned.source,
        url=None,
        path=str(path),
        title_derived=cleaned.title_derived,
    )


class _BadRecord(Exception):
    """A JSONL record that cannot be indexed; the message is the reason."""


_JSON_TYPES = {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number"}


def _first_field(record: dict, names: tuple[str, ...]) -> str | None:
    """The first of `names` present with a non-blank value, cleaned; None when none is.

    A present field of the wrong type is an error, not skipped over to the next name: storing
    `{'en': 'Title'}` as text, or falling back to another field, would both hide the mistake.
    """
    for name in names:
        value = record.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _BadRecord(f"field {name!r} is {_JSON_TYPES.get(type(value), 'not text')}; expected a string")
        value = clean_text(value).strip()
        if value:
            return value
    return None


def _record_id(record: dict) -> str | None:
    """The record's id, compared as given: a string verbatim (outer white space aside), a whole
    number as its JSON text (Reuters' `"newid": 5` is "5", so `5` and `"5"` are the same id and
    the second is reported as a duplicate); anything else, or an id holding control characters
    or invalid surrogates, is an error."""
    for name in ID_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise _BadRecord(f"field {name!r} is {_JSON_TYPES.get(type(value), 'not text')}; ids are strings or whole numbers")
        value = value.strip()
        if has_unsafe_characters(value):
            raise _BadRecord(f"id {display_path(value)!r} holds control characters or invalid surrogates; fix it in the file")
        if value:
            return value
    return None


def _read_jsonl(path: Path, data: bytes) -> Iterator[Article | Skipped]:
    name = display_path(path)
    text = decode_bytes(data)
    if text is None:
        yield Skipped(name, "binary or undecodable; expected JSON lines in UTF-8")
        return
    first_line: dict[str, int] = {}  # id -> line it was first read on
    # Records are separated by newlines only: str.splitlines would also cut at characters JSON
    # allows inside a string (U+2028, form feed...).
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            # strict=False lets raw tabs and other controls inside strings through; clean_text drops them.
            record = json.loads(line, strict=False)
        except json.JSONDecodeError as err:
            yield Skipped(where, f"not valid JSON ({err.msg})")
            continue
        except (ValueError, RecursionError) as err:  # a number of 5,000 digits; 10,000 nested brackets
            yield Skipped(where, f"not valid JSON ({type(err).__name__}: {str(err)[:80]})")
            continue
        if not isinstance(record, dict):
            yield Skipped(where, "not a JSON object")
            continue
        yield _checked_record(record, path, number, first_line, "needs an 'id' and a 'body'")


def _checked_record(record: dict, path: Path, number: int, first_line: dict[str, int], missing: str) -> Article | Skipped:
    """The record on line `number` as an Article, or Skipped: a bad field, no id or body
    (`missing` says what is needed), or an id an earlier line of the file has (`first_line`)."""
    where = f"{display_path(path)}:{number}"
    try:
        article = _record_article(record, f"{path}:{number}")
    except _BadRecord as err:
        return Skipped(where, str(err))
    if article is None:
        return Skipped(where, missing)
    if article.id in first_line:
        # Within one file the first record keeps the id; never silently replaced by a later one.
        return Skipped(where, f"duplicate id {article.id!r} (first on line {first_line[article.id]})")
    first_line[article.id] = number
    return article


def _read_table(path: Path, data: bytes, kind: str, options: ReadOptions) -> Iterator[Article | Skipped]:
    from index.text.tabular import TableError, table_records

    name = display_path(path)
    text = decode_text(data)
    if text is None:
        yield Skipped(name, "binary or undecodable; expected CSV/TSV text")
        return
    first_line: dict[str, int] = {}
    try:
        for item in table_records(text, "\t" if kind == "tsv" else ",", options.columns):
            if isinstance(item, TableError):
                yield Skipped(f"{name}:{item.line}" if item.line else name, item.reason)
                continue
            number, record = item
            yield _checked_record(record, path, number, first_line, "needs a 'body' (or 'text'/'description') value")
    except TableError as err:
        yield Skipped(name, err.reason)


def _read_html(path: Path, data: bytes) -> Article | Skipped:
    from index.text.html import extract_page

    text = decode_text(data)
    if text is None:
        return Skipped(display_path(path), "binary or undecodable; expected an HTML page")
    page = extract_page(text)
    if page is None:
        return Skipped(display_path(path), "no article text found in the page (only navigation, menus or scripts)")
    body = normalise_body(page.body)
    return Article(
        id=input_stem(path),
        title=page.title or title_from_body(body),
        body=body,
        date=parse_date(page.date or ""),
        source=page.source,
        url=page.url,
        path=str(path),
        title_derived=not page.title,
    )


def _record_article(record: dict, where: str) -> Article | None:
    """One JSONL record as an Article; None without an id or a body; _BadRecord for bad fields."""
    article_id = _record_id(record)
    body = _first_field(record, BODY_FIELDS)
    # Every known field is checked, so a bad one is reported even when the id or body is missing.
    title = _first_field(record, ("title",))
    date = _first_field(record, ("date",))
    source = _first_field(record, ("source",))
    url = _first_field(record, ("url",))
    dateline = _first_field(record, ("dateline",))
    if article_id is None or body is None:
        return None
    body = normalise_body(body)
    if dateline and not body.startswith(dateline):
        # Wire copy keeps its dateline ("CHICAGO, Feb 26 -") at the head of the body.
        body = f"{dateline} {body}"
    return Article(
        id=article_id,
        title=title or title_from_body(body),
        body=body,
        date=parse_date(date or ""),
        source=source,
        url=url,
        path=where,
        title_derived=title is None,
    )
