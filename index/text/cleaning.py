"""Cleaning scraped article pages: find title, date and outlet, and keep only the article's own text.

Scraped pages mix the article with navigation, share widgets, photo credits, related-link lists
and reader comments. The rules here are line based and conservative in one direction: a line
that reads as prose (ends like a sentence, or is long) is kept, so no sentence of the article is
lost; short lines that do not end like a sentence (headline lists, captions, UI strings) are not
article text and are dropped. Everything after a comments marker is reader discussion and goes.

Short items (a wire brief, a headline with one line of body, a sentence cut off by the feed) may
have no line that reads as prose by these rules. Such a file is still an article: when no line
passes, every line that is not page furniture is kept, so only a file of nothing but furniture
(menus, credits, time stamps) or of nothing at all has no body, and `CleanedText.empty_reason`
says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.text.dates import parse_date

__all__ = ["CleanedText", "clean_raw_article", "normalise_body", "parse_date", "title_from_body"]

# A line from which on everything is reader discussion, not article.
_COMMENTS_MARKER = re.compile(
    r"^(comments?\s*\(?\d*\)?|\d+\s+comments?|community standards.*|comment via .*|"
    r"to participate in the discussion.*|newsfeed|show comments|leave a comment|reader comments)$",
    re.IGNORECASE,
)

# Interface strings that scraped pages carry; matched on the whole line, case-insensitively.
_UI_LINES = {
    "listen live", "get short url", "subscribe", "most viewed", "editor's picks", "editors' picks",
    "today's top news", "top news", "top stories", "us weekly", "loader", "chats", "share",
    "tweet", "print", "email", "e-mail", "advertisement", "read more", "related", "related news",
    "related articles", "follow us", "log in or register", "more", "trending", "latest news",
}

_PHOTO_CREDIT = re.compile(r"^(©|\(c\)\s|(photo|image|picture|credit)s?\s*(credit)?\s*:)|mediabank", re.I)
_TIMESTAMP_LINE = re.compile(r"^\d{1,2}:\d{2}\s*(GMT|UTC)\b", re.I)
_UPDATED_LINE = re.compile(r"^(updated|published|posted|last updated)\s*:?\s*(?P<when>.+)$", re.I)
_OUTLET_LINE = re.compile(r"^\((?P<outlet>[A-Z][\w .&-]{1,40})\)$")
# "MOSCOW (Sputnik) —", "TEHRAN, January 20 (Sputnik) –" or "WASHINGTON, May 5, 2021 (AP) —":
# an outlet named in a dateline.
_DATELINE_OUTLET = re.compile(
    r"^[A-Z][A-Z .,'-]{2,}(?:,\s*[A-Z][a-z]+\.?\s+\d{1,2}(?:,\s*\d{4})?)?\s*\((?P<outlet>[A-Z][\w .&-]{1,40})\)"
)
# "Russian Defense Minister Sergei Shoigu - Sputnik International": a caption credited to the outlet.
# A headline ends the same way with the name of whom it quotes ("Choose hope over fear -
# Kennedy", BBC's style), so the name must read as an outlet: followed by International, News or
# Agency, or one of the wire services (`_WIRES`); and the first line, the headline's place, is
# never read for it.
_CAPTION_OUTLET = re.compile(r"\s[-–—]\s(?P<outlet>[A-Z][\w&]+)(?P<kind>\s(International|News|Agency))?$")
_WIRES = {
    "Reuters", "AFP", "AP", "Xinhua", "TASS", "Sputnik", "RIA", "Interfax", "IRNA", "Anadolu", "Yonhap",
    "Kyodo", "Bernama", "PTI", "ANI", "UPI", "dpa", "EFE", "ANSA", "Itar-Tass",
}
_JUNK_LINE = re.compile(r"^[\W\d_]*$")
# A trailing backslash is a feed's line-break marker (AG News writes "\\" for one), not text.
_SENTENCE_END = re.compile(r"[.!?…:;][\"'”’)\]\\]*$")
# A sentence ending inside a line (a lower-case word, then . ! ? …, then the next sentence's
# capital): a line that holds a whole sentence is prose even when the feed cut its last one off.
# The word must be all lower case, so that "Oct. 25" or "Gen. Smith" in a caption is no end.
_INNER_SENTENCE_END = re.compile(r"(?<![\w.])[a-z]{2,}[.!?…][\"'”’)\]]*\s+(?=[\"'“‘(]?[A-Z])")

# Prose that runs this long is article text even without a closing full stop.
_LONG_LINE_WORDS = 25
_TITLE_MAX_WORDS = 25
_DERIVED_TITLE_WORDS = 12

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_FULL_DATE = re.compile(
    r"\b\d{4}-\d{2}-\d{2}\b"
    rf"|\b\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}\b"
    rf"|\b{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}\b",
    re.IGNORECASE,
)
# A time-zone offset glued to the day that follows, as in "14:31 GMT +320 October 2019".
_TZ_OFFSET = re.compile(r"\b(GMT|UTC)\s*[+-](1[0-4]|\d)", re.I)


@dataclass(frozen=True)
class CleanedText:
    """What cleaning finds in one raw article file."""

    title: str
    body: str
    date: str | None
    source: str | None
    title_derived: bool = False  # True when no title was found and `title` is the body's start
    empty_reason: str | None = None  # why `body` is empty, in words for the user; None when it is not


_NO_TEXT = "no article text: the file is empty"
_ONLY_FURNITURE = "no article text: every line reads as page furniture (menus, lone words, captions, credits, time stamps)"


def clean_raw_article(raw: str) -> CleanedText:
    """Clean one scraped article page into title, ISO date, outlet and body paragraphs.

    The body is the prose lines after the header; a file with no prose line keeps every line
    that is not page furniture, the first as the title when there are several.
    """
    raw_lines = [" ".join(line.split()) for line in raw.splitlines()]
    headline = _standalone_headline(raw_lines)
    lines = [line for line in raw_lines if line]
    lines = _cut_comments(lines)
    if headline is not None:
        lines = lines[1:]

    first_prose = next((i for i, line in enumerate(lines) if _is_prose(line)), len(lines))
    header, rest = lines[:first_prose], lines[first_prose:]

    date_found = _find_date(header + rest[:1])
    source = _find_source(header + rest[:3], headline=headline or (lines[0] if lines else None))
    body_lines = [line for line in rest if _is_prose(line) and not _is_boilerplate(line)]
    picked = headline or _pick_title(header)
    if not body_lines:
        # No prose line at all: a short item, not a page of furniture (see the module docstring).
        # A lone word ("Home", "Sport") is a menu entry, never a whole article.
        kept = [line for line in header if not _is_boilerplate(line) and len(line.split()) > 1]
        if headline is None:
            # A short item leads with its headline; a byline after it is more capitalised but is no title.
            picked = kept[0] if len(kept) > 1 else None
        body_lines = kept[1:] if picked and headline is None else kept
        if not body_lines:
            reason = _ONLY_FURNITURE if lines else _NO_TEXT
            return CleanedText(title="", body="", date=date_found, source=source, title_derived=True, empty_reason=reason)
    body = "\n\n".join(body_lines)
    title = picked or title_from_body(body)
    return CleanedText(title=title, body=body, date=date_found, source=source, title_derived=picked is None)


def normalise_body(text: str) -> str:
    """Collapse runs of white space inside paragraphs; keep paragraph breaks as blank lines."""
    paragraphs = (" ".join(p.split()) for p in re.split(r"\n\s*\n|\r\n\s*\r\n", text))
    return "\n\n".join(p for p in paragraphs if p)


def title_from_body(body: str) -> str:
    """A title for an article that has none: its first sentence, shortened to a dozen words."""
    first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
    words = first.split()
    if len(words) <= _DERIVED_TITLE_WORDS:
        return first
    return " ".join(words[:_DERIVED_TITLE_WORDS]).rstrip(",;:") + "…"


def _standalone_headline(raw_lines: list[str]) -> str | None:
    """The first line when it stands alone as a headline: short, followed by a blank line and
    then more text, and not page furniture. BBC files are written so ("Could rivalry overshadow
    election?" then a blank line); such a line is the title even when it ends like a sentence."""
    filled = [i for i, line in enumerate(raw_lines) if line]
    if len(filled) < 2:
        return None
    first = filled[0]
    line = raw_lines[first]
    standalone = first + 1 < len(raw_lines) and not raw_lines[first + 1]
    if not standalone or not 2 <= len(line.split()) <= _DERIVED_TITLE_WORDS or _is_boilerplate(line):
        return None
    return line


def _cut_comments(lines: list[str]) -> list[str]:
    seen_prose = False
    for i, line in enumerate(lines):
        if seen_prose and _COMMENTS_MARKER.match(line):
            return lines[:i]
        seen_prose = seen_prose or _is_prose(line)
    return lines


def _is_prose(line: str) -> bool:
    if _is_boilerplate(line):
        return False
    words = len(line.split())
    if words >= _LONG_LINE_WORDS or (words >= 3 and bool(_SENTENCE_END.search(line))):
        return True
    inner = _INNER_SENTENCE_END.search(line)
    return inner is not None and len(line[: inner.end()].split()) >= 3


def _is_boilerplate(line: str) -> bool:
    lowered = line.lower().strip(" :|")
    return (
        lowered in _UI_LINES
        or bool(_JUNK_LINE.match(line))
        or bool(_PHOTO_CREDIT.search(line))
        or bool(_TIMESTAMP_LINE.match(line))
        or _is_stamp(line)
        or bool(_OUTLET_LINE.match(line))
    )


def _is_stamp(line: str) -> bool:
    """An "Updated: 2012-08-22 16:33" line, not a sentence that starts with "Published reports"."""
    stamp = _UPDATED_LINE.match(line)
    if stamp is None or len(line.split()) > 8:
        return False
    return ":" in line[: len(stamp.group(1)) + 2] or bool(_FULL_DATE.search(line))


def _pick_title(header: list[str]) -> str | None:
    """The most headline-like line before the article text: title case wins over captions."""
    candidates = [
        line for i, line in enumerate(header)
        if not _is_boilerplate(line)
        and (i == 0 or _caption_outlet(line) is None)  # a headline may end "- Name"; a caption is no title
        and 2 <= len(line.split()) <= _TITLE_MAX_WORDS
    ]
    if not candidates:
        return None
    return max(candidates, key=_capitalised_share)  # max keeps the first of equals


def _capitalised_share(line: str) -> float:
    words = [w for w in re.findall(r"[^\W\d_][\w'’-]*", line)]
    if not words:
        return 0.0
    return sum(w[0].isupper() for w in words) / len(words)


def _find_date(lines: list[str]) -> str | None:
    for line in lines:
        updated = _UPDATED_LINE.match(line) if _is_stamp(line) else None
        if updated:
            found = _FULL_DATE.search(updated.group("when"))
            if found:
                return parse_date(found.group(0))
        found = _FULL_DATE.search(_TZ_OFFSET.sub(" ", line))
        if found:
            parsed = parse_date(found.group(0))
            if parsed:
                return parsed
    return None


def _find_source(lines: list[str], headline: str | None = None) -> str | None:
    """The outlet: an "(Xinhua)" line, then a dateline's "(Sputnik)", then a credited caption;
    `headline`, the file's first line, is never read as a caption."""
    for pattern in (_OUTLET_LINE, _DATELINE_OUTLET):
        for line in lines:
            found = pattern.search(line)
            if found:
                return found.group("outlet").strip()
    for line in lines:
        outlet = None if line == headline else _caption_outlet(line)
        if outlet:
            return outlet
    return None


def _caption_outlet(line: str) -> str | None:
    """The outlet a caption line is credited to ("... - Sputnik International"), or None."""
    found = _CAPTION_OUTLET.search(line)
    if found is None or not (found.group("kind") or found.group("outlet") in _WIRES):
        return None
    return found.group("outlet")

