"""Regions named in a query ("North Africa", "the Gulf", "Southeast Asia"), read as their countries.

Analysts ask about regions; articles name countries. `find_regions(query)` finds region phrases
and gives each one's member countries under the names Accord stores for articles
(`index.text.countries`, pycountry English short names), so the keyword leg can search for the
members and the ranking can favour articles about them. Pure functions over a table built once;
safe to share between threads.

Where the regions come from:
- The UN M49 geographic regions ("Northern Africa", "South-eastern Asia", "Western Europe"...), as
  listed in country_converter's data file (`country_data.tsv`, column `UNregion`, a maintained
  source kept in step with the UN Statistics Division). The file is read with the csv module:
  country_converter's own class needs pandas and is not needed for a lookup. Each UN name also
  answers to its everyday form by rule, unless that is a country's name ("South Africa"):
  "North Africa" for "Northern Africa", "Southeast Asia"
  (also "South-East Asia", "South East Asia") for "South-eastern Asia", "Central Africa" for
  "Middle Africa".
- Groupings from the same file: the European Union ("the EU") and the CIS.
- Regions that no standard classification has but defence news uses every day, defined by the
  bodies that define them: "the Gulf" (and "Gulf states", "Persian Gulf", "Arabian Gulf") are
  the six members of the Gulf Cooperation Council (its 1981 charter); "the Sahel" the five
  states of the G5 Sahel (2014 convention); "the Balkans" the states of the Balkan peninsula as
  the Southeast European Cooperation Process counts them; "the Middle East" is UN Western Asia
  without the South Caucasus, plus Egypt and Iran.
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Regions outside every classification in country_converter's file, as ISO 3166-1 alpha-2 codes
# (sources in the module docstring). Kosovo (XK) has no ISO code and no pycountry name.
_DEFINED_REGIONS: dict[str, tuple[str, ...]] = {
    "the Gulf": ("BH", "KW", "OM", "QA", "SA", "AE"),
    "the Sahel": ("BF", "TD", "ML", "MR", "NE"),
    "the Balkans": ("AL", "BA", "BG", "HR", "GR", "ME", "MK", "RO", "RS", "SI", "TR"),
}
# Phrases for each region; a region's own name is always one. Matching ignores case.
_PHRASES: dict[str, tuple[str, ...]] = {
    "the Gulf": (r"the\s+(?:persian\s+|arabian\s+)?gulf(?!\s+of\b)", r"(?:persian|arabian)\s+gulf",
                 r"gulf\s+(?:states|countries|monarchies|kingdoms|arab\s+states)"),
    "the Sahel": (r"(?:the\s+)?sahel(?:\s+region)?",),
    "the Balkans": (r"(?:the\s+)?(?:western\s+)?balkans",),
    "the Middle East": (r"(?:the\s+)?middle\s+east",),
    "the European Union": (r"(?:the\s+)?european\s+union", r"(?:the\s+)?(?-i:EU)"),
    "the CIS": (r"(?:the\s+)?(?-i:CIS)", r"commonwealth\s+of\s+independent\s+states"),
}
# The everyday form of a UN region's name, by rule over the UN name's first word.
_EVERYDAY = {"Northern": "North", "Southern": "South", "Eastern": "East", "Western": "West"}


@dataclass(frozen=True)
class Region:
    """A region phrase found in a query: the words as written, the region's name and its members."""

    phrase: str
    name: str
    countries: tuple[str, ...]
    start: int
    end: int


def find_regions(query: str) -> list[Region]:
    """The regions named in `query`, in order of mention, each with its member countries
    (Accord's country names, sorted). A phrase inside a longer one is not found twice."""
    pattern, names = _matcher()
    found = []
    for match in pattern.finditer(query):
        name = names[match.lastgroup]  # type: ignore[index]
        found.append(Region(match.group(), name, regions()[name], match.start(), match.end()))
    return found


def region_countries(found: Iterable[Region]) -> set[str]:
    """Every country of the regions `found`."""
    return {country for region in found for country in region.countries}


def expansion_terms(found: Sequence[Region]) -> str:
    """The member country names of `found` as plain words for the keyword leg ("" when none)."""
    return " ".join(country for region in found for country in region.countries)


def note(found: Sequence[Region]) -> str:
    """One line saying which regions were read as which countries (for `--explain` and JSON)."""
    parts = [f'"{region.phrase}" as {", ".join(region.countries)}' for region in found]
    return "region read as its countries: " + "; ".join(parts)


def boost_region(
    run: Sequence[tuple[str, float]], in_region: set[str], share: float
) -> list[tuple[str, float]]:
    """`run` with every article in `in_region` raised by `share` of the run's top score, best
    first again (ties keep their order).

    Relative to the top score, so it means the same whatever the fusion's scale; a share of 0.1
    lifts an article about a member country past others within a tenth of the top score.
    """
    if not run or not in_region or share <= 0:
        return list(run)
    lift = share * max(score for _doc, score in run)
    raised = [(doc, score + lift if doc in in_region else score) for doc, score in run]
    order = sorted(range(len(raised)), key=lambda i: (-raised[i][1], i))
    return [raised[i] for i in order]


@functools.cache
def _region_names() -> tuple[str, ...]:
    """Every region's name, from the data file alone (no country names looked up yet)."""
    un_names = {row.get("UNregion") or "" for row in _country_rows()}
    return tuple(sorted(un_names - {""} | set(_PHRASES)))


@functools.cache
def regions() -> dict[str, tuple[str, ...]]:
    """Every region Accord knows, by name, with its member countries (Accord's names, sorted)."""
    from index.text.countries import country_for_code

    by_code: dict[str, set[str]] = {}
    groups = {"EU": "the European Union", "CIS": "the CIS"}
    members: dict[str, set[str]] = {}
    for row in _country_rows():
        code = row["ISO2"]
        un_region = row.get("UNregion") or ""
        if un_region:
            members.setdefault(un_region, set()).add(code)
        for column, name in groups.items():
            if (row.get(column) or "").strip() and not (row.get("obsolete") or "").strip():
                members.setdefault(name, set()).add(code)
        by_code[code] = set()
    western_asia = members.get("Western Asia", set())
    members["the Middle East"] = (western_asia - {"AM", "AZ", "GE"}) | {"EG", "IR"}
    for region_name, codes in _DEFINED_REGIONS.items():
        members[region_name] = set(codes)
    named: dict[str, tuple[str, ...]] = {}
    for region, region_codes in members.items():
        found = {country_for_code(code) for code in region_codes}
        named[region] = tuple(sorted(c for c in found if c))
    return named


@functools.cache
def _country_rows() -> tuple[dict[str, str], ...]:
    """The rows of country_converter's data file (one per country)."""
    from importlib.util import find_spec
    from pathlib import Path

    # Found without importing the package: its __init__ imports pandas (seconds, for a lookup).
    spec = find_spec("country_converter")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("country_converter is not installed; pip install country_converter")
    text = (Path(spec.origin).parent / "country_data.tsv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines(), delimiter="\t"))


def _un_phrases(name: str) -> list[str]:
    """Regex phrases for a UN region's name and its everyday form."""
    words = name.split()
    forms = {name}
    if words[0] in _EVERYDAY:
        forms.add(" ".join([_EVERYDAY[words[0]], *words[1:]]))
    if name == "South-eastern Asia":
        forms |= {"Southeast Asia", "South-East Asia", "South East Asia"}
    if name == "Middle Africa":
        forms.add("Central Africa")
    if name == "Northern America":
        forms = {name}  # "North America" usually means the continent, Mexico included
    forms = {form for form in forms if not _is_country(form)}  # "South Africa" is a country
    return [r"\s+".join(re.escape(w) for w in form.split()) for form in sorted(forms)]


def _is_country(name: str) -> bool:
    """Whether country_converter's data names a country so ("South Africa")."""
    return name.casefold() in _country_names()


@functools.cache
def _country_names() -> frozenset[str]:
    return frozenset(row[column].casefold() for row in _country_rows() for column in ("name_short", "name_official"))


@functools.cache
def _matcher() -> tuple[re.Pattern[str], dict[str, str]]:
    """One case-insensitive regex over every phrase, longest first, and region by group name."""
    phrases: list[tuple[str, str]] = []
    for name in _region_names():  # not regions(): a query that names none never loads pycountry
        if name in _PHRASES:
            phrases += [(p, name) for p in _PHRASES[name]]
        elif not name.startswith("the "):
            phrases += [(p, name) for p in _un_phrases(name)]
    phrases.sort(key=lambda item: -len(item[0]))  # the longer phrase wins where two start together
    names = {f"r{i}": name for i, (_p, name) in enumerate(phrases)}
    alternatives = "|".join(f"(?P<r{i}>{p})" for i, (p, _name) in enumerate(phrases))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE), names
