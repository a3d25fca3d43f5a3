"""Search filters, applied inside both legs before fusion so a filtered query still fills k hits."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from index.text.cleaning import parse_date
from index.errors import InvalidArgument

_YEAR = re.compile(r"^\d{4}$")
_YEAR_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")


@dataclass(frozen=True)
class Filters:
    """Which articles a search may return.

    All `countries` must be mentioned; the outlet must be one of `sources` (case-insensitive);
    the date must lie within [`since`, `until`] (ISO dates, inclusive), and an undated article
    never passes a date bound.
    """

    countries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None

    @property
    def active(self) -> bool:
        """True when the filters exclude anything."""
        return bool(self.countries or self.sources or self.since or self.until)

    @classmethod
    def parse(
        cls,
        countries: Iterable[str] = (),
        sources: Iterable[str] = (),
        since: str | None = None,
        until: str | None = None,
    ) -> Filters:
        """Filters from user input: country names in any common form, dates or years.

        Raises InvalidArgument for an unknown country, an unreadable date or since > until.
        """
        from index.text.countries import normalise_country

        names = []
        for written in countries:
            name = normalise_country(written)
            if name is None:
                raise InvalidArgument(f"--country {written!r} is not a country Accord knows; try its English name")
            names.append(name)
        start = date_bound(since, end=False) if since else None
        stop = date_bound(until, end=True) if until else None
        if start and stop and start > stop:
            raise InvalidArgument(f"--since {since} is after --until {until}")
        return cls(tuple(dict.fromkeys(names)), tuple(s for s in sources if s.strip()), start, stop)


def date_bound(value: str, end: bool) -> str:
    """An ISO date from a year ("2019"), a month ("2019-05") or a date in any common format.

    A year or month stands for its first day as a start bound and its last day as an end bound.
    """
    value = value.strip()
    if _YEAR.match(value):
        return f"{value}-12-31" if end else f"{value}-01-01"
    month = _YEAR_MONTH.match(value)
    if month and 1 <= int(month.group(2)) <= 12:
        year, number = int(month.group(1)), int(month.group(2))
        last = (31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
        return f"{year:04d}-{number:02d}-{last[number - 1] if end else 1:02d}"
    parsed = parse_date(value)
    if parsed is None:
        raise InvalidArgument(f"{value!r} is not a date; use a year (2019), a month (2019-05) or a date (2019-05-31)")
    return parsed
