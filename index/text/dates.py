"""Dates as news writes them ("26-FEB-1987 15:01:01.79", "02/08/63", "May 5, 2021", "2019-05"),
read into ISO dates or into the period they name.

A date names a period: "2019" the year, "May 2019" the month, "2019-05-31" the day. For storage
an article's date is the period's first day (`parse_date`); a search bound needs both ends
(`parse_period`), so that `--until 2019` reaches 31 December. Only a year written with two
digits is ambiguous: it is taken as the latest year not in the future ("02/08/63" is 1963 in a
1963 archive, "05/01/21" is 2021); a year written in full is kept as written, future or not.
A text without a year is no date. Pure functions: safe from any thread or process.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime

from dateutil import parser as date_parser

# Two different defaults: a field dateutil fills from the default differs between two parses,
# which tells what the text left out (dateutil itself would silently take today's values).
_DEFAULT_A = datetime(2000, 1, 1)
_DEFAULT_B = datetime(2001, 2, 2)
_FULL_YEAR = re.compile(r"\d{3,}")


def parse_period(text: str, today: date | None = None) -> tuple[date, date] | None:
    """The first and last day of the period `text` names (a year, a month or a day), or None.

    `today` (default: the current date) decides the century of a two-digit year.
    """
    text = text.strip()
    if not text or not any(c.isdigit() for c in text):
        return None
    try:
        first = date_parser.parse(text, default=_DEFAULT_A, fuzzy=False, ignoretz=True)  # only the day matters
        # Only a field equal to the first default may have come from it: parsing is slow, so the
        # second parse is left out for the usual date that is not the 1st of January 2000.
        maybe_missing = first.year == _DEFAULT_A.year or first.month == _DEFAULT_A.month or first.day == _DEFAULT_A.day
        second = date_parser.parse(text, default=_DEFAULT_B, fuzzy=False, ignoretz=True) if maybe_missing else first
    except (ValueError, OverflowError):
        return None
    if first.year != second.year:
        return None  # no year given: "Feb 26" is no date in an archive spanning decades
    has_month, has_day = first.month == second.month, first.day == second.day
    if has_day and not has_month:
        return None  # "2019 15": a day of no month
    year = first.year
    if not _FULL_YEAR.search(text):  # the year was written with two digits (or fewer)
        year = _century(year, first.month if has_month else 1, first.day if has_day else 1, today or date.today())
    try:
        if has_day:
            day = date(year, first.month, first.day)
            return day, day
        if has_month:
            return date(year, first.month, 1), date(year, first.month, calendar.monthrange(year, first.month)[1])
        return date(year, 1, 1), date(year, 12, 31)
    except ValueError:  # 29 February moved to a year that has none
        return None


def parse_date(text: str, today: date | None = None) -> str | None:
    """Parse a date written in any common news format into ISO `YYYY-MM-DD`, or None.

    A year alone or a month alone gives the period's first day ("2019" -> 2019-01-01).
    """
    period = parse_period(text, today)
    return period[0].isoformat() if period else None


def _century(year: int, month: int, day: int, today: date) -> int:
    """The year ending in `year % 100` that puts the date latest without passing `today`."""
    candidate = today.year - today.year % 100 + year % 100
    if (candidate, month, day) > (today.year, today.month, today.day):
        candidate -= 100
    return candidate
