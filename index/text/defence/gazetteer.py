"""The defence gazetteer (weapon systems and organisations) and the matcher that finds them in text.

The data is `data/defence_gazetteer.tsv` (its README names the columns and sources). Every alias
of every entry goes into one character trie, compiled once into one regex, so a text is scanned in
a single pass whatever the size of the gazetteer; the trie is greedy, so the longest alias wins
("Mirage 2000" before "Mirage", "Scud-B" before "Scud").

Spelling variants come from the pattern, not from the data: a hyphen, a space, a slash or nothing
are the same between the parts of a designator ("S-300", "S 300", "S300"; "Su-35", "SU 35"), case
is ignored in designators, dots and apostrophes are optional, and a designator may carry a variant
suffix in capitals ("Su-30MKI", "T-72B3", "S-300PMU-2") or a plural s ("F-16s", "Scuds").

Case and context keep ordinary words out. An alias with no digit must start with a capital in the
text (all-capitals text, as in old wire copy, passes), and an all-capitals alias ("NATO", "IDF")
must be written in capitals. Entries flagged `amb` in the data (names that are also animals,
weather, sports teams, first names or car makes: "Patriot", "Harpoon", "Leopard", "Tiger",
"Rafale", "Javelin", "Saab"), and acronyms that are English words ("TOW", "HOT", "AUG"), count only
with defence context: a cue word near the mention ("missile", "tank", "jet", "air defence",
"deployed"), the entry's maker near it, or a defence-heavy article and no contrary cue nearby
("fans", "golf", "sedan"). Entries flagged `civil` (makers of airliners, engines or ships too:
Boeing, Airbus, BAE Systems, Rolls-Royce) count only in an article with a military word
("military", "defence", "missiles", "navy"; not "jets" or "aircraft"). Names of several words ("Patriot missile", "Black Hawk") and
designators ("MIM-104", "PAC-3") need no context.
"""

from __future__ import annotations

import csv
import functools
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from index.errors import AccordError
from index.text.countries import trie_regex
from index.text.defence.capitals import written_in_capitals

CATEGORIES = (
    "aircraft", "helicopter", "air_defence", "missile", "ship", "submarine", "armour", "artillery", "small_arms",
)
ORGANISATION_KINDS = ("agency", "ministry", "armed_force", "alliance", "manufacturer")


class GazetteerError(AccordError):
    """The defence gazetteer file is missing or has a malformed row."""


@dataclass(frozen=True)
class Entry:
    """One weapon system or organisation of the gazetteer."""

    type: str  # "system" or "organisation"
    name: str
    aliases: tuple[str, ...]
    category: str  # a CATEGORIES value for systems, an ORGANISATION_KINDS value for organisations
    country: str | None
    maker: str | None
    ambiguous: bool
    civil: bool = False  # a maker of airliners or other civil goods too: counts only in an article about defence


@dataclass(frozen=True)
class Hit:
    """One gazetteer mention in a text: the entry, its span and the words as written."""

    entry: Entry
    start: int
    end: int
    written: str


# Acronyms that are also English words (or month names): they count only with defence context.
_WORD_ACRONYMS = frozenset(
    "ADD AIO AUG BAL BEL DANA EDGE GD HAL HARM HIT HOT IAF KAI LORA MAG MICA MKE NAG NSG PAC PLAN POF RAN "
    "ROE SAA SAC SAW SCAR SCO SOM SSB SSM TAI TAM TOW USC ZSU".split()
)

# Words near an ambiguous name that make it a weapon (and of an article, that make it about defence).
DEFENCE_CUES = re.compile(
    r"\b(?:missiles?|rockets?|launchers?|batter(?:y|ies)|air[- ]defen[cs]e|anti-(?:aircraft|tank|ship|missile|air)|"
    r"surface-to-(?:air|surface)|air-to-(?:air|surface)|cruise|ballistic|interceptors?|warheads?|tanks?|"
    r"armou?r(?:ed)?|howitzers?|artillery|jets?|fighters?|fighter-bombers?|bombers?|aircraft|warplanes?|"
    r"helicopters?|gunships?|drones?|UAVs?|frigates?|destroyers?|corvettes?|submarines?|warships?|navy|naval|"
    r"army|air ?force|military|defen[cs]e|weapons?|arms|rifles?|guns?|machine[- ]guns?|infantry|troops|"
    r"deploy(?:ed|ment|s)?|squadrons?|sorties?|munitions?|ammunition|combat|radar|air[- ]?strikes?|procurement|"
    r"armed forces|pentagon|nato)\b",
    re.I,
)
# Words that make an article about defence whatever else it is about: DEFENCE_CUES without the
# words an airline or aerospace story has too ("jets", "aircraft", "radar", "rockets").
MILITARY_CUES = re.compile(
    r"\b(?:military|defen[cs]e|weapons?|arms|missiles?|fighters?|fighter-bombers?|bombers?|warplanes?|army|armies|"
    r"navy|naval|air ?force|armed forces|pentagon|nato|troops|(?<!think )(?<!fuel )(?<!storage )(?<!oil )(?<!water )(?<!radiator )(?<!gas )tanks?|"
    r"warships?|submarines?|frigates?|destroyers?|"
    r"gunships?|combat|ammunition|munitions?|artillery|howitzers?|infantry)\b",
    re.I,
)
# Words near an ambiguous name that make it something else (a team, an animal, a car, a storm, a show).
_CONTRARY_CUES = re.compile(
    r"\b(?:fans?|team|teams|coach|quarterback|touchdown|season|NFL|league|football|soccer|rugby|golf|golfer|"
    r"Woods|cup|match|zoo|wildlife|species|animal|storm|weather|hurricane|typhoon season|cars?|sedan|"
    r"motor|dealers?|showrooms?|album|band|singer|film|movie|song|novel|video ?game|PlayStation|Xbox|"
    r"concert|fishing|fisherm[ae]n|javelin throw|athlete|olympic|mascot)\b",
    re.I,
)
_CUE_WINDOW = 120  # characters either side of a mention that count as "near"
ARTICLE_DEFENCE_CUES = 4  # cue words an article needs to count as defence-heavy

_SEPARATOR = r"[-\s/]?"
_DESIGNATOR_SUFFIX = r"(?P<suffix>(?<=\d)(?-i:-?[A-Z]{1,4}\d{0,2}(?:-\d)?))?"
_PLURAL = r"(?P<plural>(?<=[a-z0-9])s|(?<=[A-Z0-9])S|['’]s)?"


@dataclass(frozen=True)
class Gazetteer:
    """The loaded entries and the compiled matcher; immutable, so one may be shared by threads."""

    entries: tuple[Entry, ...]
    pattern: re.Pattern[str]
    lookup: dict[str, tuple[Entry | None, str]]  # alias key -> (entry or None for NOT_ENTITIES, alias as written)

    def find(self, text: str) -> Iterator[Hit]:
        """Every mention of a gazetteer entry in `text` that passes the case and context rules,
        in text order, without overlaps."""
        shouting = written_in_capitals(text)
        article_cues: int | None = None
        military_cues: int | None = None
        for match in self.pattern.finditer(text):
            core = match.group("core")
            found = self.lookup.get(key(core))
            if found is None:
                continue
            entry, alias = found
            if entry is None or not _case_fits(core, alias, shouting):
                continue  # a phrase that only hides a name inside it ("Kitty Hawk"), or the wrong case
            start, end = match.span()
            plural = match.group("plural") or ""
            if entry.type == "organisation" and plural[:1] in ("s", "S"):
                continue  # organisations have no plural: "Euromissiles" are missiles
            if not any(ch.isdigit() for ch in alias) and (
                text[start - 1 : start] == "-" or (text[end : end + 1] == "-" and text[end + 1 : end + 2].isalpha())
            ):
                continue  # part of a hyphenated word: "al-Shaheen", "KAI-UWE"
            if entry.civil:
                if military_cues is None:
                    military_cues = len(MILITARY_CUES.findall(text))
                if not military_cues:
                    continue  # Boeing selling airliners, British Aerospace's BAe 146 jets: not defence
            if _needs_context(entry, alias):
                if article_cues is None:
                    article_cues = len(DEFENCE_CUES.findall(text))
                if not _has_context(text, start, end, entry, core, shouting, article_cues):
                    continue
            if plural[:1] in ("'", "’"):
                end -= 2  # a possessive is not part of the name: "the Pentagon's"
            yield Hit(entry, start, end, text[start:end])

    def resolve(self, name: str) -> Entry | None:
        """The entry an alias or name stands for ("SA-21", "Triumf", "Pentagon"), or None."""
        found = self.lookup.get(key(name))
        return found[0] if found else None  # None also for NOT_ENTITIES


def key(written: str) -> str:
    """A lookup key that ignores case, accents, spacing, hyphens, slashes, dots and apostrophes."""
    plain = unicodedata.normalize("NFKD", written.casefold())
    return "".join(ch for ch in plain if ch.isalnum())


@functools.cache
def load_gazetteer() -> Gazetteer:
    """The packaged gazetteer, read and compiled once per process (about a tenth of a second)."""
    text = resources.files("index.text.defence").joinpath("data/defence_gazetteer.tsv").read_text(encoding="utf-8")
    return build_gazetteer(parse_rows(text, "defence_gazetteer.tsv"))


def parse_rows(text: str, where: str) -> list[Entry]:
    """Entries from the TSV text of a gazetteer file; raises GazetteerError naming the bad line."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    entries = []
    for number, row in enumerate(csv.reader(lines[1:], delimiter="\t", quoting=csv.QUOTE_NONE), start=2):
        if len(row) != 7:
            raise GazetteerError(f"{where}: row {number} has {len(row)} columns, not 7: fix the file")
        type_, name, aliases, category, country, maker, flags = (cell.strip() for cell in row)
        allowed = CATEGORIES if type_ == "system" else ORGANISATION_KINDS if type_ == "organisation" else ()
        if category not in allowed:
            raise GazetteerError(f"{where}: row {number} ({name}) has unknown type/category {type_}/{category}")
        entries.append(Entry(
            type=type_, name=name, aliases=tuple(a for a in aliases.split(";") if a.strip()),
            category=category, country=country or None, maker=maker or None, ambiguous="amb" in flags.split(","),
            civil="civil" in flags.split(","),
        ))
    return entries


# Phrases matched only to be thrown away: each hides a gazetteer name that does not mean the weapon
# or the organisation here (a ship's name, a golfer, a film company, a car maker, a spy agency).
NOT_ENTITIES = (
    "Kitty Hawk", "Tiger Woods", "Tiger Aspect", "New England Patriots", "Philadelphia Eagles", "Jaguar Cars",
    "Saab Automobile", "MI6", "MI5", "Phantom of the Opera", "Black Hawk Down", "Operation Desert Storm",
)


def build_gazetteer(entries: list[Entry]) -> Gazetteer:
    """Compile entries into one matcher; raises GazetteerError when two entries share an alias."""
    lookup: dict[str, tuple[Entry | None, str]] = {}
    trie: dict = {}
    for phrase in NOT_ENTITIES:
        lookup[key(phrase)] = (None, phrase)
        node = trie
        for atom in _atoms(phrase):
            node = node.setdefault(atom, {})
        node[""] = {}
    for entry in entries:
        for alias in (entry.name, *entry.aliases):
            alias = alias.strip()
            alias_key = key(alias)
            if not alias_key:
                continue
            owner = lookup.get(alias_key)
            if owner is not None and owner[0] is None:
                continue
            if owner is not None and owner[0] is not entry and owner[0] is not None:
                raise GazetteerError(
                    f"defence gazetteer: alias {alias!r} of {entry.name!r} is already an alias of {owner[0].name!r}"
                )
            if owner is None or _case_rank(alias) < _case_rank(owner[1]):
                lookup[alias_key] = (entry, alias)  # the most permissive spelling decides the case rule
            node = trie
            for atom in _atoms(alias):
                node = node.setdefault(atom, {})
            node[""] = {}
    pattern = re.compile(
        rf"(?<![^\W_])(?P<core>{trie_regex(trie)}){_DESIGNATOR_SUFFIX}{_PLURAL}(?![^\W_])", re.I
    )
    return Gazetteer(entries=tuple(entries), pattern=pattern, lookup=lookup)


def _case_rank(alias: str) -> int:
    """0 for an alias that sets no case rule (has a digit or is mixed case), 1 for all capitals."""
    return 1 if alias.isupper() and not any(ch.isdigit() for ch in alias) else 0


def _case_fits(written: str, alias: str, shouting: bool) -> bool:
    first = next((ch for ch in written if ch.isalpha()), "")
    if any(ch.isdigit() for ch in alias):
        # Designators take any case after a capital: "Su-35", "SU-35", "MiG-29"; not "a 7-0 lead".
        return first.isupper() or not first
    if shouting:
        return True
    letters = [ch for ch in alias if ch.isalpha()]
    if letters and all(ch.isupper() for ch in letters):
        return all(ch.isupper() for ch in written if ch.isalpha())  # "NATO", "IDF"; "Nato" is its own alias
    # Each capitalised word of the alias is capitalised in the text: "Soviet Army", not "Soviet army".
    alias_words, written_words = re.findall(r"[^\W\d_]+", alias), re.findall(r"[^\W\d_]+", written)
    if len(alias_words) >= 4:
        return first.isupper()  # a long name is never a description: "Federal Service for military-technical cooperation"
    if len(alias_words) == len(written_words):
        return all(w[:1].isupper() for a, w in zip(alias_words, written_words) if a[:1].isupper())
    return first.isupper()


def _needs_context(entry: Entry, alias: str) -> bool:
    if alias.isupper() and alias.replace(".", "") in _WORD_ACRONYMS:
        return True
    if re.fullmatch(r"[A-Za-z][-\s]?\d", alias):
        return True  # one letter and one digit is also a vitamin, a paper size, a key: "B2", "A4", "F4"
    if not entry.ambiguous:
        return False
    # Several words or a digit make a name specific ("Patriot missile", "PAC-3"); one bare word does not.
    return len(re.findall(r"[^\W\d_]+", alias)) == 1 and not any(ch.isdigit() for ch in alias)


def _has_context(text: str, start: int, end: int, entry: Entry, written: str, shouting: bool, article_cues: int) -> bool:
    window = text[max(0, start - _CUE_WINDOW) : end + _CUE_WINDOW]
    near = text[max(0, start - 40) : end + 40]
    if DEFENCE_CUES.search(near):
        return True
    if entry.maker and entry.maker.split()[0].lower() in window.lower():
        return True
    if _CONTRARY_CUES.search(window):
        return False
    # A capitalised name in a defence-heavy article: "the Rafale deal", "Iran's new Shahab".
    return (shouting or written[:1].isupper()) and article_cues >= ARTICLE_DEFENCE_CUES and bool(
        DEFENCE_CUES.search(window)
    )


def _atoms(alias: str) -> list[str]:
    """Regex pieces for an alias: letters and digits as themselves, a hyphen, space or slash as an
    optional separator of any of the three, an optional separator where letters meet digits
    ("Su35", "Su 35"), dots and apostrophes optional, "&" as "&" or "and"."""
    atoms: list[str] = []
    previous = ""
    for ch in unicodedata.normalize("NFC", alias.casefold()):
        if ch in " -/":
            if atoms and atoms[-1] != _SEPARATOR:
                atoms.append(_SEPARATOR)
        elif ch == ".":
            atoms.append(r"(?:\s?\.)?")  # "U.S." and TIME's "U.S ."
        elif ch in "'’":
            atoms.append("['’]?")
        elif ch == "&":
            atoms.append(r"(?:\s*&\s*|\s+and\s+)")
        elif ch.isalnum():
            if previous and previous.isalnum() and previous.isdigit() != ch.isdigit() and atoms[-1] != _SEPARATOR:
                atoms.append(_SEPARATOR)
            stripped = _strip_accent(ch)
            atoms.append(re.escape(ch) if stripped == ch else f"[{re.escape(ch)}{re.escape(stripped)}]")
        else:
            atoms.append(re.escape(ch))
        previous = ch if ch.isalnum() else previous if ch in ".'’" else ""
    while atoms and atoms[-1] in (_SEPARATOR, r"(?:\s?\.)?"):
        atoms.pop()
    return atoms


@functools.cache  # called for every character of every alias when the gazetteer is compiled
def _strip_accent(ch: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)) or ch


