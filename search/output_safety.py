"""Text from the web made safe to print: to a terminal, into a spreadsheet, inside JSON.

Article text, titles, ids, outlets and snippets come from whoever wrote the page. Printed raw,
an escape sequence in them can clear the screen, retitle the window, hide text or forge a
hyperlink (ECMA-48 CSI and OSC sequences), bidirectional overrides can reorder what the reader
sees, and a CSV cell that starts with `=`, `+`, `-` or `@` runs as a formula in a spreadsheet
("CSV injection", OWASP). Accord cleans text on the way in, but an index built by an older
version, or an id taken from a file name, may still hold such characters; so output is made
safe on the way out too.

- `terminal_text`: for prose (titles, bodies, snippets): escape sequences and control
  characters removed, newlines and tabs kept.
- `terminal_name`: for identifiers (ids, paths, URLs): nothing removed, every control character
  shown as a visible escape (`\\x1b`), so two ids never print alike.
- `csv_cell`: a terminal-safe cell with formula triggers neutralised by a leading `'`.
- `json_line`: `json.dumps` whose output also escapes C1 controls and bidi overrides.

Pure functions: safe from any thread or process.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

# ECMA-48 sequences, 7-bit (ESC ...) and 8-bit (C1) forms:
#   CSI  ESC [ or 0x9B, parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, a final 0x40-0x7E;
#   OSC, DCS, SOS, PM, APC  ESC ] P X ^ _ or 0x9D 0x90 0x98 0x9E 0x9F, a string, ended by
#        BEL, ESC \ or 0x9C (ST) - or by nothing, when the page cut it short;
#   any other ESC, its intermediates and its final byte.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
# C0 and C1 controls and DEL, and the bidirectional embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069) that make a terminal show text in another order than stored.
# Lone surrogates too: an index built before input was cleaned may hold them, and printing one
# raises UnicodeEncodeError.
_UNSAFE = "\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_TEXT = re.compile(f"[{_UNSAFE}]")
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")  # json.dumps escapes the C0 ones
# OWASP's list of characters a spreadsheet reads as the start of a formula, and the newline
# that terminal_text makes of a carriage return.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def terminal_text(text: str) -> str:
    """Prose safe for a terminal: escape sequences and control characters removed; newlines
    and tabs kept (a carriage return becomes a newline, so it cannot overwrite a line)."""
    text = _SEQUENCE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _UNSAFE_IN_TEXT.sub(lambda m: m.group(0) if m.group(0) in "\n\t" else "", text)


def terminal_name(text: str) -> str:
    """An identifier safe for a terminal: every control character (newline and tab too) and
    bidi override written as a visible escape, `\\x1b` or `\\u202e`; nothing is dropped."""
    return _UNSAFE_IN_TEXT.sub(_visible, text)


def csv_cell(value: object) -> str:
    """A spreadsheet cell: terminal-safe text, prefixed with `'` when it would start a formula.

    Applied to text cells only; a number written by Accord (rank, score) is left as it is so a
    spreadsheet still reads it as a number.
    """
    text = terminal_text("" if value is None else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


def json_line(value: Any) -> str:
    """`json.dumps(value, ensure_ascii=False)` that also escapes C1 controls and bidi overrides,
    which JSON allows raw inside strings but a terminal may act on; still valid, equal JSON."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(value, ensure_ascii=False))


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


# The columns of a result set as CSV: `accord search --format csv` and the API's export.
HIT_COLUMNS = ["rank", "id", "title", "date", "source", "countries", "score", "duplicates", "snippet", "url", "path"]


def hit_rows(hits: Iterable[Any], first_rank: int) -> Iterator[list[object]]:
    """One row of HIT_COLUMNS per hit, ranked from `first_rank` (a page's offset + 1)."""
    for rank, hit in enumerate(hits, start=first_rank):
        yield [rank, hit.id, hit.title, hit.date, hit.source, "; ".join(hit.countries), f"{hit.score:.6f}",
               "; ".join(hit.duplicates), hit.snippet, hit.url, hit.path]


def write_csv(out: TextIO, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """`header` and `rows` as CSV on `out`, every text cell (and empty one) through `csv_cell`;
    numbers stay numbers."""
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([csv_cell(v) if isinstance(v, str) or v is None else v for v in row] for row in rows)
