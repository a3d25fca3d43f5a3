"""Persons named in an article, with the role the text gives them, found by rules.

A person is a run of capitalised name words (with particles such as "al-", "bin", "von", "de")
that the text marks as a person in one of four ways:
- a title or role right before it: "Defence Minister Sergei Shoigu", "President Bush",
  "Iraqi Defense Minister Khaled Obaidi", "Director of the Russian Federal Service for
  Military-Technical Cooperation Alexander Fomin" (an organisation inside the role is skipped);
- a role in apposition after it: "Vyacheslav Dzirkaln, deputy director of the Federal Service";
- a verb of speech after a full name: "Fred Axelgard said";
- a common given name first: "Tiger Woods", "Kate Winslet" (`data/given_names.txt`).
Later mentions by surname alone ("Fomin said") join the first. In all-capitals text (TIME) only
titles can mark a name, and a name is at most two words plus particles.

Why rules and not a statistical NER model: the measured target is officials with roles, which
titles mark; the rules run in microseconds with no model to download; and the small English NER
models on PyPI (spaCy's en_core_web_sm) install from GitHub release files, not from PyPI, so they
cannot be pinned and verified like the rest of Accord's dependencies.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from index.text.countries import normalise_country
from index.text.defence.capitals import written_in_capitals

_ROLE_HEADS = (
    r"Prime Minister|Premier(?:-designate)?|President(?:-elect)?|Vice President|Chancellor|King|Queen|Crown Prince|"
    r"Prince|Emir|Sheikh|Sultan|Ayatollah|Hojatoleslam|Pope|Patriarch|"
    r"Defen[cs]e (?:and [A-Z][a-z]+ )*(?:and Armed Forces Logistics )?(?:Minister|Secretary|Chief)|Secretary of Defen[cs]e|"
    r"Secretary of State|Secretary-General|Secretary General|Under Secretary(?: of [A-Z][a-z]+)?|"
    r"(?:Foreign|Interior|Finance|Oil|Trade|Transport|Health|Home|Defen[cs]e|Foreign Affairs|International Development|"
    r"Commerce|Treasury|Energy|Agriculture|Labou?r|Justice|Industry|Economy|Economics|Education|Culture|Environment|"
    r"Information|Petroleum|Communications|Navy|Army|Air Force)"
    r" (?:Minister|Secretary|Undersecretary)|Undersecretary(?: of [A-Z][a-z]+)?|Attorney General|Minister(?: of (?:State for )?[A-Z][a-z]+(?: (?:and|of) [A-Z][a-z]+)*)?|"
    r"Foreign Undersecretary|Ambassador|Envoy|Spokesman|Spokeswoman|Director(?:[- ]General)?|Deputy Director|"
    r"Chairman|Chairwoman|Chief Executive|Chief of Staff|Commander(?:-in-Chief)?|"
    r"Field Marshal|Air Marshal|Marshal|Colonel General|Lieutenant General|Major General|Brigadier(?: General)?|"
    r"General|Gen\.|Lt\.? ?Gen\.|Maj\.? ?Gen\.|Colonel|Col\.|Lt\.? ?Col\.|Vice Admiral|Rear Admiral|Admiral|Adm\.|"
    r"Captain|Capt\.|Major|Maj\.|Lieutenant|Lt\.|Sergeant|Sgt\.|Senator|Sen\.|Rep\.|Representative|Governor|Gov\.|"
    r"Mayor|Speaker|Professor|Prof\.|Dr\.|Dr|Mr\.|Mr|Mrs\.|Mrs|Ms\.|Ms|Sir|Lord|Lady|Dame|Viscount"
)
# Lower-case role nouns count right before a name ("defense minister Jerzy Szmajdzinski",
# "cleric Moqtada al-Sadr") and in apposition ("..., deputy director of ...").
_ROLE_NOUNS = (
    r"(?:deputy |vice |former |ex-|acting |senior |chief |top |assistant )*"
    r"(?:defen[cs]e minister|defen[cs]e secretary|foreign minister|prime minister|minister|secretary|president|"
    r"spokesman|spokeswoman|director|chief|head|leader|cleric|commander|general|ambassador|envoy|adviser|"
    r"advisor|official|analyst|expert|chairman|executive|officer|student|producer|composer|lyricist|designer|"
    r"cinematographer|presenter|controller|coach|manager|boss|founder|scientist|academic|colonel|admiral|"
    r"businessman|businesswoman|financier|tycoon|prosecutor|lawyer|judge|inspector|aide|diplomat|negotiator|"
    r"economist|historian)"
)
_NAME_WORD = r"(?:[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)*|[A-Z]\.(?:\s?[A-Z]\.)*|[A-Z][a-z]*[A-Z][a-z]+)"
_PARTICLE = r"(?:al-|el-|Al-|El-|bin |ibn |bu |Bu |von |van |de |da |du |der |den |la |le |di |Abu |abu |ul-)"
# Between the words of a name: spaces, or one line break of wrapped wire copy ("Andre\nGiraud"),
# never a paragraph break or an indented new line ("Mikhail Metzel\n    Get short URL").
_GAP = r"(?:[ \t\u00a0]+|[ \t]?\n ?(?=[A-Z]))"

_TITLED = re.compile(
    rf"\b(?P<role>(?:(?:Deputy|Vice|Acting|Former|former|ex-|Assistant|First|Senior|Chief|Retired|retired)\s+)*"
    rf"(?:{_ROLE_HEADS})|{_ROLE_NOUNS})"
    rf"(?:\s+of\s+(?:the\s+)?(?P<org>(?:[A-Z][\w’'-]*|for|of|and|the|on|military-technical|cooperation)"
    rf"(?:\s+(?:[A-Z][\w’'-]*|for|of|and|the|on|military-technical|cooperation))*))?"
    rf",?{_GAP}(?P<name>{_PARTICLE}?{_NAME_WORD}(?:{_GAP}{_PARTICLE}?{_NAME_WORD}){{0,3}})"
)
_APPOSITIVE = re.compile(
    rf"(?P<name>{_NAME_WORD}(?:{_GAP}{_PARTICLE}?{_NAME_WORD}){{1,3}}),\s+(?:an?\s+|the\s+)?"
    rf"(?P<role>(?:{_ROLE_NOUNS}|(?:Deputy |Vice |Former )?(?:{_ROLE_HEADS}))(?:\s+(?:of|at|for|to|from)\s+[^,.;]{{3,70}})?)"
    r"(?=[,.;]|\s+(?:who|said|says|told|and)\b)"
)
_SPEAKER = re.compile(
    rf"(?P<name>{_NAME_WORD}(?:{_GAP}{_PARTICLE}?{_NAME_WORD}){{1,3}})(?:,[^,]{{3,60}},)?\s+"
    r"(?:said|says|told|added|stated|announced|argued|explained|noted|asked|warned|insisted|stressed)\b"
)
_GIVEN = re.compile(rf"(?<![\w-])(?P<name>(?P<first>[A-Z][a-z]+)(?:{_GAP}{_PARTICLE}?{_NAME_WORD}){{1,2}})")
# In capitals only titles mark names; at most two name words plus particles.
_CAPS_TITLED = re.compile(
    r"\b(?P<role>(?:(?:DEPUTY|VICE|FORMER|EX-|ACTING|U\.S ?\.|BRITISH|FRENCH|SOVIET|GERMAN|INDIAN)\s+)*"
    r"(?:PRIME MINISTER|PREMIER(?:-DESIGNATE)?|PRESIDENT|CHANCELLOR|KING|QUEEN|PRINCE|DEFEN[CS]E MINISTER|"
    r"DEFEN[CS]E SECRETARY|SECRETARY OF DEFEN[CS]E|SECRETARY OF STATE|UNDER SECRETARY OF STATE|FOREIGN SECRETARY|"
    r"FOREIGN MINISTER|MINISTER OF [A-Z]+|SECRETARY-GENERAL|AMBASSADOR|GENERAL|ADMIRAL|FIELD MARSHAL|MARSHAL|"
    r"COLONEL|MAJOR|CAPTAIN|SENATOR|GOVERNOR|CHAIRMAN|DIRECTOR|COMMANDER|LORD|SIR|MR\.?|MRS\.?|DR\.?)"
    r"(?:\s+(?:SIR|LORD|VISCOUNT))?)"
    r"\s+(?P<name>(?:(?:DE|VON|VAN|AL-|BIN|IBN)\s*)?[A-Z][A-Z'-]+\.?(?:\s+(?:[A-Z]\.\s*)*[A-Z][A-Z'-]+)?"
    r"(?:\s+(?:DE|VON|VAN|DU|LA|AL-|BIN|IBN)\s+[A-Z][A-Z'-]+)?)"
)

# Capitalised words that start sentences or name things, never persons.
_NOT_NAME_WORDS = frozenset(
    """The A An And But Or Of In On At By For From To With As It Its This That These Those He She They We I You
    His Her Their Our Mr Mrs Ms Dr Sir Lord Monday Tuesday Wednesday Thursday Friday Saturday Sunday January
    February March April May June July August September October November December Jan Feb Mar Apr Jun Jul Aug
    Sep Sept Oct Nov Dec Ministry Department Agency Corp Co Inc Ltd Plc Group Council Committee Office Army Navy
    Force Forces Air Service News Times Post Radio Television Party Union Bank Commission Organization
    Organisation Association Institute University House Court Parliament Congress Senate Federal Federation
    State States United Republic Kingdom Defense Defence Military Cooperation Technical Russian Iranian Iraqi
    American British French German Chinese Soviet Israeli Arab Western Eastern North South East West Islamic
    Minister President Secretary General Director Chief Deputy Prime Foreign Affairs Security Gulf Strait Sea
    Ocean Photo AP Reuters Sputnik Interfax Xinhua Press Agency Club Cup League Championship Prix Game Games
    Awards Oscar Globe Film Airport Airlines International National Global World Europe European Asia African
    Tour Open Reserve Fund Exchange Street Square Avenue Road City County Province Region Island Islands Centre
    Center Hall Palace Church Mosque Shrine Camp Base Station Range Test Trust Project Programme Program Treaty
    Accord Pact Agreement Protocol Conference Summit Talks Week Day Year Today Update Updated Listen Live Comments
    Thumb Subscribe Newsfeed Chats Community Comment Facebook Twitter Google Microsoft Apple Sony Nintendo Star
    Wars Dark Side Return Jedi Empire Phantom Opera Little Britain Black Books Night Nights Office Kumars Vicar
    Dibley Brothers Boys Gees Beach Eagles Chemical Rock Jailhouse One Fool Such It's Now Never Grief Grows Old
    Royal Strategic Joint Chiefs Staff Pentagon White Kremlin Downing Whitehall Capitol Hill Battalion Brigade
    Division Regiment Fleet Command High Supreme Mission Operation Task Group Team Unit""".split()
)
_ROLE_WORDS = frozenset(
    """Minister Secretary President Director General Chief Ambassador Spokesman Spokeswoman Admiral Colonel
    Commander Chairman Premier Chancellor King Prince Governor Senator Mayor Speaker Leader Marshal Captain
    Lieutenant Envoy Adviser""".split()
)
_SPEECH_BLOCK = re.compile(r"\b(?:Watch|Weekly|Budget|Capital|Ministry|Department|Agency|Corp|Company|Group|Council|Office|Army|Navy|Force|Forces|Service|News|Times|Radio|Party|Bank|Commission|Organi[sz]ation|Institute|University|Association|Committee|Union|Command|"
                           r"Industries|Airways|Airlines|Lease|Leasing|Finance|Electric|Motors|Aviation|Holdings|Technologies|Systems|Aerospace|Enterprises)\b")


@dataclass(frozen=True)
class FoundPerson:
    """A person as found: display name, role (or None), and the spans of every mention."""

    name: str
    role: str | None
    spans: tuple[tuple[int, int], ...]


def find_people(text: str, blocked: list[tuple[int, int]] | None = None) -> list[FoundPerson]:
    """Persons named in `text`, in order of first mention. `blocked` spans (organisations,
    systems, countries already found) cannot be part of a name."""
    blocked = sorted(blocked or [])
    shouting = written_in_capitals(text)
    found: list[tuple[int, int, str, str | None]] = []  # start, end, name, role

    def add(start: int, end: int, name: str, role: str | None) -> None:
        name = re.sub(r"['’]s$", "", " ".join(name.split()).strip(" ,."))  # "Reagan's" is Reagan
        if not name or _overlaps(blocked, start, end):
            return
        words = name.split()
        cut = max((i + 1 for i, w in enumerate(words[:-1]) if w in _ROLE_WORDS), default=0)
        start += sum(len(w) + 1 for w in words[:cut])
        words = words[cut:]
        trimmed = False
        while words and (words[-1].strip(".,") in _NOT_NAME_WORDS or _is_country_word(words[-1])):
            words.pop()
            trimmed = True
        if trimmed and len(words) == 1:
            return  # "Defense Minister Lauds Military Cooperation": a headline verb, not a name
        while words and (words[0] in _NOT_NAME_WORDS or _is_country_word(words[0])):
            start += len(words[0]) + 1
            words.pop(0)
        if not words:
            return
        name = " ".join(words)
        found.append((start, start + len(name), name, role))

    if shouting:
        for m in _CAPS_TITLED.finditer(text):
            name = m.group("name")
            if name.split()[0] in _CAPS_STOP:
                continue
            words = [w for w in name.split() if w not in _CAPS_STOP]
            add(m.start("name"), m.start("name") + len(" ".join(words)), " ".join(words).title(), _role(m.group("role")))
    else:
        for m in _TITLED.finditer(text):
            name_start = m.start("name")
            name = m.group("name")
            org = m.group("org")
            if org and not name:
                continue
            inside = [e for b, e in blocked if m.start() <= b < m.end("name") and e < m.end("name")]
            if m.group("org") and inside:
                after = re.match(rf"[\s,]*(?P<name>{_NAME_WORD}(?:{_GAP}{_PARTICLE}?{_NAME_WORD}){{0,3}})", text[max(inside) : m.end("name")])
                if after is None:
                    continue
                name_start, name = max(inside) + after.start("name"), after.group("name")
            role = text[m.start() : name_start]
            country_word = re.search(r"([A-Z][\w.’']*(?:\s+[A-Z][\w.’']*)?)\s+$", text[max(0, m.start() - 40) : m.start()])
            if country_word and _is_country_word(country_word.group(1).split()[-1]):
                role = f"{country_word.group(1).split()[-1]} {role}"
            add(name_start, name_start + len(name), name, _role(role))
        for m in _APPOSITIVE.finditer(text):
            add(m.start("name"), m.end("name"), m.group("name"), _role(m.group("role")))
        for m in _SPEAKER.finditer(text):
            if not _SPEECH_BLOCK.search(m.group("name")):
                add(m.start("name"), m.end("name"), m.group("name"), None)
        given = _given_names()
        for m in _GIVEN.finditer(text):
            if m.group("first") in given:
                add(m.start("name"), m.end("name"), m.group("name"), None)
    return _merge(text, found, blocked, shouting)


def _merge(
    text: str, found: list[tuple[int, int, str, str | None]], blocked: list[tuple[int, int]], shouting: bool
) -> list[FoundPerson]:
    """One person per surname: the longest name, the first role; then every mention of the surname."""
    people: dict[str, dict] = {}
    for start, _end, name, role in sorted(found, key=lambda f: (f[0], f[1])):
        surname = _surname(name)
        person = people.setdefault(surname, {"name": name, "role": role, "first": start})
        if len(name.split()) > len(person["name"].split()):
            person["name"] = name
        if person["role"] is None and role:
            person["role"] = role
    result = []
    for person in sorted(people.values(), key=lambda item: item["first"]):
        last = person["name"].split()[-1]
        spans = tuple(
            (start, end) for start, end in _word_mentions(text, last, shouting) if not _overlaps(blocked, start, end)
        )
        result.append(FoundPerson(person["name"], person["role"], spans or ((person["first"], person["first"]),)))
    return result


def _word_mentions(text: str, word: str, any_case: bool) -> Iterator[tuple[int, int]]:
    """Spans of `word` standing alone in `text` (no word character or hyphen either side, as a
    regex's lookarounds for them find it), left to right without overlaps; in any case when
    `any_case` (all-capitals text). Plain text search, not a pattern per surname: compiling one
    for every person of every article cost more than the search, and pushed the process's other
    patterns out of `re`'s cache."""
    if any_case:
        for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I):
            yield m.start(), m.end()
        return
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or not _is_word_char(text[start - 1])) and (end == len(text) or not _is_word_char(text[end])):
            yield start, end
            start = text.find(word, end)
        else:
            start = text.find(word, start + 1)


def _is_word_char(ch: str) -> bool:
    """What a regex's word class or a hyphen matches in a str: a letter, digit or number, "_", "-"."""
    return ch.isalnum() or ch in "_-"


def _surname(name: str) -> str:
    return name.split()[-1].casefold()


def _role(text: str) -> str | None:
    role = " ".join(text.replace(",", " ").split()).strip()
    return role or None


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


@functools.cache
def _is_country_word(word: str) -> bool:
    word = word.strip(".,'’")
    # Two- and three-letter words are ISO codes too ("DE", "AL"): in a name they are particles.
    return len(word) >= 4 and normalise_country(re.sub(r"['’]s$", "", word)) is not None


_CAPS_STOP = frozenset(
    """AND THE OF IN ON AT BY FOR FROM TO WITH AS IS WAS WERE HAS HAD SAID SAYS TOLD WHO WHICH THAT THIS
    LAST WEEK FACED CHATTED ARGUED HAS HIMSELF ALSO AFTER BEFORE WHILE BUT OR NOT AN A""".split()
)


@functools.cache
def _given_names() -> frozenset[str]:
    text = resources.files("index.text.defence").joinpath("data/given_names.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))
