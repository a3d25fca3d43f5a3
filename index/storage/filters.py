"""Search filters, applied inside both legs before fusion so a filtered query still fills k hits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from index.errors import InvalidArgument, InvalidParameter
from index.text.dates import parse_period


@dataclass(frozen=True)
class Filters:
    """Which articles a search may return.

    All `countries` must be mentioned; the outlet must be one of `sources` (case-insensitive);
    the date must lie within [`since`, `until`] (ISO dates, inclusive), and an undated article
    never passes a date bound. The article's stored defence facts (docs/entities.md) must name
    all `systems` and `organisations` (gazetteer names), all `people` (a full name or a surname)
    and all `kinds` of cooperation.
    """

    countries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    systems: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        """True when the filters exclude anything."""
        return bool(self.countries or self.sources or self.since or self.until or self.entities_active)

    @property
    def entities_active(self) -> bool:
        """True when a filter on the defence facts is set (the keyword stores cannot apply those)."""
        return bool(self.systems or self.organisations or self.people or self.kinds)

    def without_entities(self) -> Filters:
        """These filters without the defence-fact ones (what the keyword stores apply)."""
        return replace(self, systems=(), organisations=(), people=(), kinds=())

    def entity_arguments(self) -> dict[str, tuple[str, ...]]:
        """The defence-fact filters as keyword arguments of `filtered_article_ids`."""
        return {"systems": self.systems, "organisations": self.organisations, "people": self.people, "kinds": self.kinds}

    @classmethod
    def parse(
        cls,
        countries: Iterable[str] = (),
        sources: Iterable[str] = (),
        since: str | None = None,
        until: str | None = None,
        systems: Iterable[str] = (),
        organisations: Iterable[str] = (),
        people: Iterable[str] = (),
        kinds: Iterable[str] = (),
    ) -> Filters:
        """Filters from user input: country names in any common form, dates or years, systems
        and organisations by any alias the gazetteer knows ("SA-21", "Pentagon"), people by
        name or surname, kinds by name ("arms_sale", "arms sale").

        Raises InvalidParameter (an InvalidArgument naming `country`, `since`, `until`,
        `system`, `org`, `person` or `kind`, which the CLI words as its flags and the API as
        its parameters) for an unknown country, system, organisation or kind, an unreadable
        date or since > until.
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
        return cls(
            tuple(dict.fromkeys(names)), tuple(s for s in sources if s.strip()), start, stop,
            *_entities(systems, organisations, people, kinds),
        )


def _entities(
    systems: Iterable[str], organisations: Iterable[str], people: Iterable[str], kinds: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The defence-fact filters resolved to the names extract() stores."""
    systems, organisations, people, kinds = list(systems), list(organisations), list(people), list(kinds)
    if not any(name.strip() for name in [*systems, *organisations, *people, *kinds]):
        return (), (), (), ()  # without loading the gazetteer and its rules (a cold search skips them)
    from index.text.defence import KINDS, resolve_organisation, resolve_system

    def resolved(written_names: Iterable[str], resolve, parameter: str, what: str) -> tuple[str, ...]:
        found = []
        for written in written_names:
            if not written.strip():
                continue
            name = resolve(written.strip())
            if name is None:
                raise InvalidParameter(
                    f"{{param}} {InvalidParameter.literal(repr(written))} is not a {what} Accord knows; "
                    "try another spelling (docs/entities.md lists where the names come from)",
                    param=parameter)
            found.append(name)
        return tuple(dict.fromkeys(found))

    def kind(written: str) -> str | None:
        name = "_".join(written.lower().replace("-", " ").split())
        return name if name in KINDS else None

    names = [p.strip() for p in people if p.strip()]
    return (
        resolved(systems, resolve_system, "system", "weapon system"),
        resolved(organisations, resolve_organisation, "org", "defence organisation"),
        tuple(dict.fromkeys(" ".join(p.split()) for p in names)),
        resolved(kinds, kind, "kind", f"kind of cooperation (one of {', '.join(KINDS)})"),
    )


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
