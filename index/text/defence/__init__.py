"""Defence facts in an article: weapon systems, organisations, people, kinds of cooperation and
directed arms transfers.

    facts = extract(title, body, countries)   # countries: e.g. article_countries(title, body)
    asdict(facts)                             # JSON-ready

All spans are character offsets into `article_text(title, body)` (the title, a line break, the
body), the same text index/text/countries.py reads. Pure functions over text: the gazetteer is
loaded and compiled once per process on first use (about half a second) and is immutable, so
`extract` may be called from any number of threads or processes at once.

Parts: `gazetteer` (the data and the one-pass matcher), `people` (rules over titles, roles and
names), `kinds` (weighted phrase rules), `transfers` (sentence shapes over countries.py). How the
parts were measured is in docs/entities.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from index.text.countries import extract_countries, find_dateline, normalise_country
from index.text.defence.capitals import written_in_capitals
from index.text.defence.gazetteer import MILITARY_CUES, Entry, GazetteerError, Hit, load_gazetteer
from index.text.defence.kinds import KINDS, MIN_DEFENCE_CUES, classify
from index.text.defence.people import find_people
from index.text.defence.transfers import find_transfers
from index.text.defence_facts import DefenceFacts, Organisation, Person, Span, System, Transfer

__all__ = [
    "KINDS", "DefenceFacts", "GazetteerError", "Organisation", "Person", "Span", "System", "Transfer",
    "article_text", "extract", "resolve_organisation", "resolve_system",
]


def article_text(title: str, body: str) -> str:
    """The text every span refers to: the title, a line break, the body."""
    return f"{title}\n{body}"


def extract(article_title: str, body: str, countries: Sequence[str] = ()) -> DefenceFacts:
    """The defence facts of one article.

    `countries` are the article's countries (as index/text/countries.py names them, first the
    most central); a ministry, service or minister named without a country ("the Defence
    Ministry", "the Army") is taken to be the first one's, and is left out when none is given.
    """
    text = article_text(article_title, body)
    home = countries[0] if countries else None
    hits = list(load_gazetteer().find(text))
    systems = _group_systems(hits, text)
    organisations = _organisations(hits, text, home)
    blocked = [(h.start, h.end) for h in hits] + [(s.start, s.end) for o in organisations for s in o.mentions]
    people = tuple(
        Person(p.name, p.role, tuple(Span(s, e, text[s:e]) for s, e in p.spans)) for p in find_people(text, blocked)
    )
    organisations = _add_implied(organisations, people, home)
    system_spans = [(s.start, s.end, system.name) for system in systems for s in system.mentions]
    org_countries = [(s.start, s.end, o.country) for o in organisations if o.country for s in o.mentions]
    found = find_transfers(text, system_spans, org_countries, _person_countries(people, text))
    transfers = tuple(
        Transfer(t.supplier, t.recipient, t.system, Span(t.start, t.end, text[t.start : t.end].strip())) for t in found
    )
    # "jets" and "aircraft" alone (an airline story) do not make an article about defence
    cues = len(MILITARY_CUES.findall(text)) + len(hits)
    # Below MIN_DEFENCE_CUES no kind is reported whatever the scores: most news is not about
    # defence, and scoring its phrases was half the cost of extraction.
    kinds = classify(article_title, body, cues, sum(t.sale for t in found))[0] if cues >= MIN_DEFENCE_CUES else ()
    return DefenceFacts(systems, organisations, people, kinds, transfers)


# Titles of officials who act for their state: "President Reagan ... decided to sell arms to Iran".
_STATE_TITLE = re.compile(r"\b(?:president|prime minister|premier|king|emir|shah|sultan|chancellor|minister|secretary)\b", re.I)


def _person_countries(people: Sequence[Person], text: str) -> list[tuple[int, int, str]]:
    """(start, end, country) of the mentions of people who act for a country: their role names it
    ("Soviet leader"), or their role is a state office and the story was filed from a capital
    ("WASHINGTON - President Reagan"), where an untitled president is that country's."""
    dateline = find_dateline(text)
    capital = None
    if dateline is not None and not extract_countries(dateline.place, capitals=False):
        capital = dateline.country if extract_countries(dateline.place) == [dateline.country] else None
    found: list[tuple[int, int, str]] = []
    for person in people:
        if not person.role:
            continue
        named = extract_countries(person.role, capitals=False)
        country = named[0] if len(named) == 1 else (capital if not named and _STATE_TITLE.search(person.role) else None)
        if country:
            found.extend((m.start, m.end, country) for m in person.mentions)
    return found


def resolve_system(name: str) -> str | None:
    """The gazetteer name of a system alias ("SA-21", "Triumf" -> "S-400"), or None."""
    entry = load_gazetteer().resolve(name)
    return entry.name if entry is not None and entry.type == "system" else None


def resolve_organisation(name: str) -> str | None:
    """The name extract() gives an organisation written as `name` ("Pentagon", "Iraqi Defense
    Ministry" -> "Ministry of Defence (Iraq)", "Indian Air Force"), or None."""
    entry = load_gazetteer().resolve(name)
    if entry is not None and entry.type == "organisation":
        return entry.name
    own = re.fullmatch(r"(Ministry of Defence|Air Force|Navy|Army|Armed Forces|Marine Corps|Coast Guard) \((.+)\)", name)
    if own and normalise_country(own.group(2)) == own.group(2):
        return name if own.group(1) == "Ministry of Defence" else _service_name(own.group(1), own.group(2))
    found = _pattern_organisations(name, None)
    return found[0][0] if found else None


def _group_systems(hits: list[Hit], text: str) -> tuple[System, ...]:
    grouped: dict[str, list[Hit]] = {}
    for hit in hits:
        if hit.entry.type == "system":
            grouped.setdefault(hit.entry.name, []).append(hit)
    return tuple(
        System(e.name, e.category, e.country, e.maker, tuple(Span(h.start, h.end, h.written) for h in group))
        for group in grouped.values()
        for e in [group[0].entry]
    )


_MINISTRY = re.compile(
    r"(?P<before>(?:[A-Z][\w’'.]*\s+){0,3})(?P<what>(?:Defen[cs]e\s+Ministry|Ministry\s+of\s+(?:National\s+)?Defen[cs]e|"
    r"DEFEN[CS]E\s+MINISTRY|MINISTRY\s+OF\s+DEFEN[CS]E))\b"
)
_SERVICE = re.compile(
    r"(?P<before>(?:[A-Z][\w’'.]*\s?\.?\s+){1,3})(?P<what>Air\s+Force|Navy|Army|Armed\s+Forces|Marine\s+Corps|"
    r"Coast\s+Guard|AIR\s+FORCE|NAVY|ARMY|ARMED\s+FORCES)\b"
)
# Words every match of _SERVICE and _BARE_SERVICE holds (their generic names, as each starts).
_SERVICE_WORDS = ("Air", "Navy", "Army", "Armed", "Marine", "Coast", "AIR", "NAVY", "ARMY", "ARMED")
_BARE_SERVICE = re.compile(r"\bthe\s+(?P<what>Army|Navy|Air\s+Force)\b(?!\s+(?:of|and)\b)")
_SERVICE_NAMES = {"air force": "Air Force", "navy": "Navy", "army": "Army", "armed forces": "Armed Forces",
                  "marine corps": "Marine Corps", "coast guard": "Coast Guard"}


def _pattern_organisations(text: str, home: str | None) -> list[tuple[str, str, str | None, int, int]]:
    """Ministries of defence and armed services named by a country and a generic name:
    (name, kind, country, start, end) for "Iraqi Defense Ministry", "Poland's Navy", "the Army"."""
    found: list[tuple[str, str, str | None, int, int]] = []
    # Each pattern's generic name is plain text that most articles lack: looking for it first
    # skips scanning them with a pattern that tries up to three capitalised words at every word.
    ministries = _MINISTRY.finditer(text) if "Ministry" in text or "MINISTRY" in text else ()
    for m in ministries:
        country = _country_before(m.group("before"))
        start = m.start("what") if country is None else m.start() + _country_offset(m.group("before"))
        country = country or home
        if country:
            found.append((f"Ministry of Defence ({country})", "ministry", country, start, m.end()))
    services = any(word in text for word in _SERVICE_WORDS) and not written_in_capitals(text)
    for m in _SERVICE.finditer(text) if services else ():
        country = _country_before(m.group("before"))
        if country:
            service = _SERVICE_NAMES[" ".join(m.group("what").lower().split())]
            found.append((_service_name(service, country), "armed_force", country,
                          m.start() + _country_offset(m.group("before")), m.end()))
    if home and services:
        for m in _BARE_SERVICE.finditer(text):
            service = _SERVICE_NAMES[" ".join(m.group("what").lower().split())]
            found.append((_service_name(service, home), "armed_force", home, m.start("what"), m.end()))
    return found


def _service_name(service: str, country: str) -> str:
    """The gazetteer's name for a country's service where it has one ("United States Navy")."""
    gazetteer = load_gazetteer()
    for candidate in (f"{country} {service}", f"{_ADJECTIVES.get(country, country)} {service}"):
        entry = gazetteer.resolve(candidate)
        if entry is not None and entry.type == "organisation":
            return entry.name
    return f"{service} ({country})"


_ADJECTIVES = {"United States": "U.S.", "United Kingdom": "British", "India": "Indian", "Pakistan": "Pakistan",
               "France": "French", "Russia": "Russian", "Sweden": "Swedish", "China": "Chinese", "Iraq": "Iraqi",
               "Israel": "Israeli", "Iran": "Iranian", "Japan": "Japanese", "Germany": "German", "Egypt": "Egyptian"}


def _country_before(words: str) -> str | None:
    """The country that the last one to three words before a generic name stand for."""
    tokens = [t for t in re.split(r"\s+", words.strip()) if t]
    for n in (3, 2, 1):
        if len(tokens) >= n:
            phrase = " ".join(tokens[-n:])
            phrase = re.sub(r"['’]s$", "", phrase).replace("U.S .", "U.S.")
            country = normalise_country(phrase)
            if country:
                return country
    return None


def _country_offset(words: str) -> int:
    """Where, in the words before a generic name, the country's words start."""
    tokens = list(re.finditer(r"\S+", words))
    for n in (3, 2, 1):
        if len(tokens) >= n:
            phrase = re.sub(r"['’]s$", "", " ".join(t.group(0) for t in tokens[-n:])).replace("U.S .", "U.S.")
            if normalise_country(phrase):
                return tokens[-n].start()
    return len(words)


def _organisations(hits: list[Hit], text: str, home: str | None) -> tuple[Organisation, ...]:
    grouped: dict[str, tuple[str, str | None, list[Span]]] = {}
    taken: list[tuple[int, int]] = []
    for hit in hits:
        if hit.entry.type == "organisation":
            kind, country = hit.entry.category, hit.entry.country
            grouped.setdefault(hit.entry.name, (kind, country, []))[2].append(Span(hit.start, hit.end, hit.written))
            taken.append((hit.start, hit.end))
    for name, kind, country, start, end in sorted(_pattern_organisations(text, home), key=lambda f: f[3]):
        if any(s < end and start < e for s, e in taken):
            continue  # a gazetteer name covers it ("U.S. Navy")
        grouped.setdefault(name, (kind, country, []))[2].append(Span(start, end, text[start:end]))
        taken.append((start, end))
    ordered = sorted(grouped.items(), key=lambda item: item[1][2][0].start)
    return tuple(Organisation(name, kind, country, tuple(spans)) for name, (kind, country, spans) in ordered)


_MINISTER_ROLE = re.compile(r"\bDefen[cs]e\b.*\b(?:Minister|Secretary|chief)\b|\bMinister of Defen[cs]e\b", re.I)


def _add_implied(organisations: tuple[Organisation, ...], people: tuple[Person, ...], home: str | None) -> tuple[Organisation, ...]:
    """A defence minister's ministry, when the text names the minister but not the ministry:
    "Russian Defense Minister Sergei Shoigu" implies "Ministry of Defence (Russia)"."""
    named = {o.name for o in organisations}
    implied: list[Organisation] = []
    for person in people:
        if not person.role or not _MINISTER_ROLE.search(person.role):
            continue
        country = _country_before(person.role.split("Defen")[0]) if "Defen" in person.role else None
        if country is None:
            words = person.role.split()
            country = next((c for w in words if (c := normalise_country(w.strip("'’s"))) is not None), None)
        country = country or home
        name = f"Ministry of Defence ({country})" if country else None
        if country == "United States":
            name = "United States Department of Defense"
        if name and name not in named:
            named.add(name)
            implied.append(Organisation(name, "ministry", country, (), implied_by=person.role))
    return organisations + tuple(implied)


__all__ += ["Entry"]
