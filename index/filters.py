"""Search filters: a value the query side builds and both stores apply inside each leg before
fusion, so a filtered query still fills k hits.

`Filters` validates and normalises when it is constructed, whoever constructs it (the CLI, the
API, a saved search read back, a caller of the Python API): an unknown country, system,
organisation or kind, an unreadable date or a start after the end raises `InvalidParameter`,
which each surface words in its own terms (a CLI flag, an API parameter). A constructed value is
therefore always one the stores can apply as it is. Immutable and safe to share between threads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from index.errors import InvalidArgument, InvalidParameter


@dataclass(frozen=True)
class Filters:
    """Which articles a search may return.

    All `countries` must be mentioned; the outlet must be one of `sources` (case-insensitive);
    the date must lie within [`since`, `until`] (inclusive), and an undated article never passes
    a date bound. The article's stored defence facts (docs/entities.md) must name all `systems`
    and `organisations`, all `people` (a full name or a surname) and all `kinds` of cooperation.

    Written forms are accepted and normalised on construction: countries in any common form
    ("iranian" -> "Iran"), dates as a year, a month or a date ("2019" as `since` is 2019-01-01,
    as `until` 2019-12-31), systems and organisations by any alias the gazetteer knows ("SA-21",
    "FSVTS"), kinds by name ("arms sale"); any iterable for the tuple fields. Duplicates and
    blank entries are dropped. Raises InvalidParameter naming `country`, `since`, `until`,
    `system`, `org` or `kind` for a value Accord does not know or since > until.
    """

    countries: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    systems: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # A frozen dataclass normalises through object.__setattr__; every field is checked here
        # so no code path (a saved search read back, a caller of the Python API) can hand the
        # stores a value they would silently fail to match.
        since = _bound("since", self.since, end=False) if self.since else None
        until = _bound("until", self.until, end=True) if self.until else None
        if since and until and since > until:
            raise InvalidParameter(
                f"{{since}} {InvalidParameter.literal(self.since)} is after {{until}} {InvalidParameter.literal(self.until)}",
                since="since", until="until")
        systems, organisations, people, kinds = _entities(
            _values(self.systems), _values(self.organisations), _values(self.people), _values(self.kinds))
        normalised: dict[str, object] = {
            "countries": _countries(_values(self.countries)),
            "sources": tuple(dict.fromkeys(s for s in _values(self.sources) if s.strip())),
            "since": since, "until": until,
            "systems": systems, "organisations": organisations, "people": people, "kinds": kinds,
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)

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
        countries: Iterable[str] | None = (),
        sources: Iterable[str] | None = (),
        since: str | None = None,
        until: str | None = None,
        systems: Iterable[str] | None = (),
        organisations: Iterable[str] | None = (),
        people: Iterable[str] | None = (),
        kinds: Iterable[str] | None = (),
    ) -> Filters:
        """Filters from user input as the CLI and the API hand it over (lists, or None for an
        option not given); validated and normalised like the constructor."""
        return cls(
            tuple(countries or ()), tuple(sources or ()), since or None, until or None,
            tuple(systems or ()), tuple(organisations or ()), tuple(people or ()), tuple(kinds or ()),
        )


def _values(given: Iterable[str]) -> tuple[str, ...]:
    """A tuple field's values; one string given where a tuple belongs is one value, not letters."""
    return (given,) if isinstance(given, str) else tuple(given)


def _countries(written_names: Iterable[str]) -> tuple[str, ...]:
    """Country names in Accord's canonical form; raises InvalidParameter naming `country`."""
    written_names = [name for name in written_names if name.strip()]
    if not written_names:
        return ()  # without loading the country tables (a cold search skips them)
    from index.text.countries import normalise_country

    names = []
    for written in written_names:
        name = normalise_country(written)
        if name is None:
            raise InvalidParameter(
                f"{{country}} {InvalidParameter.literal(repr(written))} is not a country Accord knows; try its English name",
                country="country")
        names.append(name)
    return tuple(dict.fromkeys(names))

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
    from index.text.dates import parse_period  # only a dated search pays for the date parsers

    period = parse_period(value)
    if period is None:
        raise InvalidArgument(f"{value!r} is not a date; use a year (2019), a month (2019-05) or a date (2019-05-31)")
    return period[1 if end else 0].isoformat()
