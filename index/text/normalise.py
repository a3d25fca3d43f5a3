"""Text normalised on the way in: bytes decoded whatever their encoding, strings made safe to store.

Everything Accord stores passes through here first, so the rest of the indexer only ever sees
text that SQLite, whoosh, hashing and a terminal can take: valid Unicode (no lone surrogates),
no NUL or other control characters but newline and tab, composed (NFC) so that "café" typed
either way is one word. File names that are not valid UTF-8 cannot be stored as paths and are
reported by `display_path`, with the bad bytes written as `\\xNN`.

Pure functions over immutable values: safe to call from any thread or process.
"""

from __future__ import annotations

import codecs
import os
import re
import unicodedata
from pathlib import Path

# Byte-order marks, longest first (UTF-32 LE starts with UTF-16 LE's mark).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Past this share of non-ASCII bytes a file is not Western text with a few accents (which
# Windows-1252 reads right, where guessing picks a wrong code page on so little evidence) but
# a script of its own (Cyrillic, Greek, Japanese...), and charset-normalizer guesses it well.
_GUESS_SHARE = 0.2
_BINARY_CONTROL_SHARE = 0.05
# Binary files are full of NULs; text scraped from the web may carry a stray one.
_STRAY_NUL_SHARE = 0.01
_HIGH_BYTES = bytes(range(0x80, 0x100))

# C0 and C1 controls Python counts as white space become a space, so "word\x0cword" stays two
# words; every other control (NUL, ESC, DEL, BEL...) is dropped. Newline and tab are kept.
_WHITE_CONTROLS = "\x0b\x0c\x1c\x1d\x1e\x1f\x85"
_CONTROLS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0)) if chr(c) not in "\n\t"]
_CONTROL_TABLE = {ord(c): (" " if c in _WHITE_CONTROLS else None) for c in _CONTROLS}
_HAS_CONTROL = re.compile("[" + re.escape("".join(_CONTROLS)) + "]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?")


def decode_bytes(data: bytes) -> str | None:
    """Decode a file's bytes into text, or None when they are not text (binary, or no encoding fits).

    A byte-order mark decides (UTF-8, UTF-16, UTF-32); then strict UTF-8; then, for bytes with
    NULs (UTF-16 without a mark) or mostly non-ASCII bytes (a legacy code page of another
    script), charset-normalizer's guess; else Windows-1252, the code page of old Western news
    archives (its five unassigned bytes read as Latin-1). The text is not yet cleaned: see
    `clean_text`.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(encoding)
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:  # UTF-16/32 without a mark, binary, or text with a stray NUL
        guessed = _guess(data)
        if guessed is not None or data.count(0) > _STRAY_NUL_SHARE * len(data):
            return guessed
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    high = len(data) - len(data.translate(None, _HIGH_BYTES))  # counted in C: files can be large
    if high > _GUESS_SHARE * len(data):
        return _guess(data)
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # never fails; the C1 controls it yields are dropped later


def _guess(data: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported only for the rare file that needs it

    best = from_bytes(data).best()
    if best is None:
        return None
    text = str(best)
    # A guess that reads as mostly control characters is binary, whatever its name.
    controls = len(_HAS_CONTROL.findall(text))
    return None if controls > _BINARY_CONTROL_SHARE * max(len(text), 1) else text


def clean_text(text: str) -> str:
    """`text` made safe to store: lone surrogates become U+FFFD, CR/CRLF become newlines, other
    control characters but tab and newline are dropped (white-space ones become a space), NFC."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    if "\r" in text:
        text = _LINE_BREAK.sub("\n", text)
    if _HAS_CONTROL.search(text):
        text = text.translate(_CONTROL_TABLE)
    return unicodedata.normalize("NFC", text)


def has_unsafe_characters(text: str) -> bool:
    """True when `text` holds a lone surrogate or a control character (tab and newline included):
    what an id, kept verbatim, must not contain."""
    return bool(_SURROGATE.search(text) or _ANY_CONTROL.search(text))


def is_storable_path(path: Path | str) -> bool:
    """True when the path's name is valid UTF-8 (it holds no bytes Python had to smuggle in as
    surrogates), so it can be stored and printed as it is."""
    return not _SURROGATE.search(str(path))


def display_path(path: Path | str) -> str:
    """The path as a user can read it: bytes that are not UTF-8 as `\\xNN`, controls escaped."""
    try:
        text = os.fsencode(str(path)).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no file system byte stands for
        text = _SURROGATE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", str(path))
    return _ANY_CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
