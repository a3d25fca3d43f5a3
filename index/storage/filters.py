"""Search filters, applied inside both legs before fusion so a filtered query still fills k hits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from index.errors import InvalidArgument, InvalidParameter
from index.text.dates import parse_period


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

        Raises InvalidParameter (an InvalidArgument naming `country`, `since` or `until`, which
        the CLI words as its flags and the API as its parameters) for an unknown country, an
        unreadable date or since > until.
        """
        from index.text.countries import normalise_country

        names = []
        for written in countries:
            name = normalise_country(written)
            if name is None:
                raise InvalidParameter(
                    f"{{country}} {InvalidParameter.literal(repr(written))} is not a country Accord knows; try its English name",
                    country="country")
            names.append(name)
        start = _bound("since", since, end=False) if since else None
        stop = _bound("until", until, end=True) if until else None
        if start and stop and start > stop:
            raise InvalidParameter(
                f"{{since}} {InvalidParameter.literal(since)} is after {{until}} {InvalidParameter.literal(until)}",
                since="since", until="until")
        return cls(tuple(dict.fromkeys(names)), tuple(s for s in sources if s.strip()), start, stop)


def _bound(name: str, value: str, end: bool) -> str:
    """`date_bound` of the filter `name`, whose error names it."""
    try:
        return date_bound(value, end)
    except InvalidArgument as err:
        raise InvalidParameter(f"{{name}} {InvalidParameter.literal(err)}", name=name) from None


def date_bound(value: str, end: bool) -> str:
    """An ISO date from a year ("2019"), a month ("2019-05", "May 2019") or a date in any common
    format: a period stands for its first day as a start bound and its last day as an end bound."""
    period = parse_period(value)
    if period is None:
        raise InvalidArgument(f"{value!r} is not a date; use a year (2019), a month (2019-05) or a date (2019-05-31)")
    return period[1 if end else 0].isoformat()
