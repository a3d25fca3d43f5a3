"""CSV and TSV inputs: one article per row, its columns named by a header row or by `--columns`.

A column's name says which Article field it fills (`COLUMN_FIELDS`: `description`, `text` and
`content` fill the body, `headline` the title, `link` the url...); columns of other names (AG
News' `class`) are read and ignored. Whether the first row is a header is decided by its names:
a first row that names a known field (`title`, `body`...) is a header. A file without one needs
`--columns` (`class,title,body` for AG News); without it the file is skipped, the reason saying
whether `csv.Sniffer` took the first row for a header of unknown names or for data. A row without an
id column gets its line number as id, so that the file and line still name it.

Pure functions over text: safe from any thread or process.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator, Sequence

# column name (lower case) -> the record field it fills (the names `_record_article` reads).
COLUMN_FIELDS = {
    "id": "id", "docno": "id", "newid": "id", "guid": "id",
    "title": "title", "headline": "title",
    "body": "body", "text": "body", "description": "body", "content": "body", "article": "body",
    "date": "date", "published": "date", "pubdate": "date",
    "source": "source", "outlet": "source", "publisher": "source",
    "url": "url", "link": "url",
    "dateline": "dateline",
}
# Enough rows for the sniffer to compare the first row with the ones after it.
_SNIFF_CHARS = 64 * 1024


class TableError(Exception):
    """A row (`line`) or, with line 0, the whole file that cannot be read; `reason` in words."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def table_records(text: str, delimiter: str, columns: Sequence[str] | None) -> Iterator[tuple[int, dict] | TableError]:
    """(line number, record) for each data row of `text`, with the record's keys the Article
    fields of its named columns; a bad row is yielded as a TableError. Raises TableError when
    the columns cannot be named (no header and no `columns`, or no body column)."""
    _allow_long_fields()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        first = next(reader, None)
    except csv.Error as err:
        raise TableError(0, f"not valid CSV ({err})") from None
    if first is None:
        raise TableError(0, "no rows: the file is empty")
    names_known = any(cell.strip().lower() in COLUMN_FIELDS for cell in first)
    if columns is not None:
        # The columns are named: a first row is a header only when it names fields itself.
        header = names_known or [c.strip().lower() for c in first] == [c.lower() for c in columns]
        names = [c.strip().lower() for c in columns]
    elif names_known:
        header, names = True, [c.strip().lower() for c in first]
    else:
        looks_like_header = _sniffed_header(text)
        raise TableError(0, ("the header row names no known column (title, body, date...)" if looks_like_header
                             else "no header row naming the columns")
                         + "; name them in a header row or with --columns in order (e.g. --columns class,title,body for AG News)")
    fields = [COLUMN_FIELDS.get(name) for name in names]
    if "body" not in fields:
        known = ", ".join(sorted({n for n, f in COLUMN_FIELDS.items() if f == "body"}))
        raise TableError(0, f"no body column among {', '.join(names)}; name one of them {known} "
                            "(in the header row or with --columns)")
    pending = [] if header else [(1, first)]  # a first row that is data
    while True:
        if pending:
            start, row = pending.pop()
        else:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield TableError(start, f"not valid CSV ({err}); the rest of the file is not read")
                return
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(fields):
            yield TableError(start, f"has {len(row)} columns, not {len(fields)}; a field holding the delimiter must be quoted")
            continue
        record = {field: cell for field, cell in zip(fields, row, strict=True) if field is not None and cell.strip()}
        record.setdefault("id", str(start))
        yield start, record


def _sniffed_header(text: str) -> bool:
    try:
        return csv.Sniffer().has_header(text[:_SNIFF_CHARS])
    except csv.Error:
        return False


def _allow_long_fields() -> None:
    # An article body can exceed csv's default 128 KB field limit; the limit only guards memory,
    # and the builder has already checked the file's size.
    if csv.field_size_limit() < sys.maxsize // 2:
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
