"""The types of the defence facts (spans, systems, organisations, people, transfers), apart from
the extractor so that the stores can read stored facts without loading the matcher's rules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Where a mention is: [start, end) offsets into article_text(title, body), and the words."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class System:
    """A weapon system named in the article, with its gazetteer attributes."""

    name: str
    category: str  # aircraft, helicopter, air_defence, missile, ship, submarine, armour, artillery, small_arms
    country: str | None  # country of origin
    maker: str | None
    mentions: tuple[Span, ...]


@dataclass(frozen=True)
class Organisation:
    """A defence organisation: a gazetteer entry, a ministry of defence or an armed service."""

    name: str  # "Rosoboronexport", "Ministry of Defence (Russia)", "Air Force (Poland)"
    kind: str  # agency, ministry, armed_force, alliance, manufacturer
    country: str | None
    mentions: tuple[Span, ...]  # empty when only implied
    implied_by: str | None = None  # the role that implies it ("Russian Defense Minister"), if not named


@dataclass(frozen=True)
class Person:
    """A person named in the article, with the role the text gives (or None)."""

    name: str
    role: str | None
    mentions: tuple[Span, ...]


@dataclass(frozen=True)
class Transfer:
    """Arms going from supplier to recipient as one sentence states it (done, agreed or planned)."""

    supplier: str
    recipient: str
    system: str | None
    evidence: Span  # the sentence


@dataclass(frozen=True)
class DefenceFacts:
    """Everything extract() found in one article; `asdict()` of it is JSON-serialisable."""

    systems: tuple[System, ...]
    organisations: tuple[Organisation, ...]
    people: tuple[Person, ...]
    kinds: tuple[str, ...]  # a subset of KINDS, in KINDS order
    transfers: tuple[Transfer, ...]
