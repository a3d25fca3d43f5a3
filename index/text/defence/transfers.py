"""Directed arms transfers stated in a sentence: supplier -> recipient, and the system when named.

Four sentence shapes are read, each within one sentence:
- supplier VERB ... to recipient: "Russia will deliver S-300 systems to Iran";
- supplier VERB recipient with ...: "Moscow supplied Damascus with MiG-29s";
- recipient VERB ... from supplier: "Iraq buys Su-25 jets from Russia";
- a noun phrase: "U.S. arms sales to Iran", "shipments of U.S. arms to Iran", "Arms Delivery to
  Iraq" (the supplier from the noun phrase or the sentence's subject), "sold to Canada by the
  Royal Navy", and "armed with U.S. weapons".
Countries are recognised by index/text/countries.py (capitals as metonyms count: "Moscow"); an
organisation of the gazetteer stands for its country ("Rosoboronexport ... shipments for Libya"),
and so does an official whose country is known ("President Reagan ... decided to sell arms to
Iran", filed from Washington); a sentence opening with "It" takes the previous one's subject
("Moscow is neutral ... It is a major arms supplier to Iraq"). A country after a place
preposition is not the supplier ("ships bound for Kuwait"), a ship is not shipping ("a Kuwaiti
ship which sailed to Bahrain with U.S. arms"), and a sale that is the topic of something else
("the report on the sale of arms to Iran") takes its supplier only from its own noun phrase.
The sentence must name arms (a gazetteer system or a word such as "arms", "missiles", "jets").
Negated, refused, wished-for, attempted or offered transfers are not transfers: "Russia denies
supplying Syria", "considering buying", "wants to lease", "tried to obtain", "offered to supply";
nor are arms for rebels ("to Nicaraguan Contra rebels"), whose country is not the recipient.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from index.text.countries import extract_countries

_ARMS = re.compile(
    r"\b(?:arms|weapons?|weaponry|missiles?|jets?|aircraft|fighters?|helicopters?|tanks?|submarines?|frigates?|"
    r"warships?|vessels?|systems?|equipment|munitions|ammunition|rifles|hardware|drones?|howitzers?|batteries|"
    r"shipments?)\b",
    re.I,
)
_FORWARD = re.compile(
    r"\b(?:deliver(?:s|ed|ing)?|suppl(?:y|ies|ied|ying)|sell(?:s|ing)?|sold|ship(?:s|ped|ping)?|export(?:s|ed|ing)?|"
    r"provid(?:e|es|ed|ing)|giv(?:e|es|ing)|gave|transfer(?:s|red|ring)?|send(?:s|ing)?|sent|donat(?:e|es|ed|ing)|"
    r"hand(?:s|ed|ing)? over)\b",
    re.I,
)
# "ship" is a verb only after a subject's auxiliary or "to", or with arms as its object: "a Kuwaiti
# ship which sailed to Bahrain" and "cargo ships bound for Kuwait" carry, they do not supply.
_SHIP_VERB = re.compile(r"^ship", re.I)
# After an article or a possessive a supply word is a noun: "a Toshiba subsidiary's transfer".
_NOUN_MARKER = re.compile(r"(?:\b(?:the|a|an|its|their|his|her|this|that)|['’]s?)\s+$", re.I)
_SHIP_AUXILIARY = re.compile(
    r"\b(?:to|will|would|can|could|shall|should|did|does|do|also|was|were|been|being|is|are|be|had|has|have)\s+$", re.I
)
_REVERSE = re.compile(
    r"\b(?:buy(?:s|ing)?|bought|purchas(?:e|es|ed|ing)|acquir(?:e|es|ed|ing)|order(?:s|ed|ing)?|receiv(?:e|es|ed|ing)|"
    r"import(?:s|ed|ing)?|obtain(?:s|ed|ing)?|leas(?:e|es|ed|ing))\b",
    re.I,
)
_NOUN = re.compile(
    r"\b(?:sales?|deliver(?:y|ies)|shipments?|exports?|supplies|suppliers?|transfers?)\b(?:\s+of\s+(?P<what>[^;]{0,60}?))?"
    r"\s+(?:to|for)\s+",
    re.I,
)
_PASSIVE = re.compile(r"\b(?:sold|supplied|delivered|leased|given|transferred)\s+to\s+(?P<to>[^.;]{1,40}?)\s+by\s+", re.I)
_ARMED_WITH = re.compile(r"\b(?:armed|equipped)\s+(?:\w+\s+){0,2}with\s+", re.I)
_NOT_DONE = re.compile(
    r"\b(?:not|n't|never|den(?:y|ies|ied|ying)|refus\w*|ban\w*|halt\w*|suspend\w*|stop\w*|without|consider\w*|"
    r"delay\w*|postpon\w*|cancel\w*|"
    r"weigh\w*|may|might|could|would like|want\w*|wish\w*|offer\w*|bid\w*|propos\w*|seek\w*|interest\w* in|"
    r"allegedly|accus\w*|rumou?r\w*|tr(?:y|ies|ied|ying) to|attempt\w*)\b[^.;]{0,25}$",
    re.I,
)
# A country's adjective before rebels names a non-state recipient: "to Nicaraguan Contra rebels"
# are not Nicaragua.
_NON_STATE = re.compile(
    r"(?:the\s+)?(?:[\w'-]+\s+){0,2}[\"“]?(?:contras?|rebels?|guerrill\w+|insurgents?|militants?|separatists?|"
    r"militias?|opposition|fighters|mercenaries)\b",
    re.I,
)
# A country after a place preposition is where something is or goes, not who acts: "cargo ships
# bound for Kuwait ... for road delivery to Iraq" is not Kuwait's delivery.
_PLACE_BEFORE = re.compile(r"\b(?:to|for|in|at|into|via|through|towards?|off|near|inside)\s+(?:the\s+)?$", re.I)
# A sale that is the topic of something else ("the report on the sale of arms to Iran") gets its
# supplier only from its own noun phrase, not from the sentence's subject.
_TOPIC_BEFORE = re.compile(
    r"\b(?:on|about|over|concerning|regarding)\s+(?:(?:the|a|an|its|his|their)\s+)?(?:[a-z]+\s+){0,2}$", re.I
)
# An official who decides a sale makes it his state's: "Reagan ... authorized the sale of arms to Iran".
_DECIDED = re.compile(
    r"\b(?:authori[sz]ed?|approved?|ordered|agreed|signed|concluded|announced)\s+(?:(?:the|a|an)\s+)?(?:[a-z]+\s+)?$", re.I
)
# A denial covers the whole clause it governs: "denied a report that the United States was
# continuing to ship arms to Iran".
_DENIED = re.compile(r"\b(?:den(?:y|ies|ied|ying)|refut\w*|dismiss\w* (?:a |the )?reports?)\b[^.;]*\bthat\b", re.I)
# Words that end the noun phrase before a sale noun: the supplier's adjective stands after them
# ("U.S. arms sales"), a country before them belongs to another phrase ("U.S. report on the sale").
_PHRASE_BREAK = re.compile(r".*\b(?:on|of|about|into|over|for|from|with|by|in|to|at|and|said|says|told)\b", re.I | re.S)
# A sentence that opens with "It" continues the previous one's subject: "Moscow is officially
# neutral ... It is a major arms supplier to Iraq."
_PRONOUN_SUBJECT = re.compile(r"\s*[\"“]?It\s+(?:is|was|has|had|will|would|also|remains|became|continues)\b")
_BOUNDARY = re.compile(r"[.!?]+[\"”’']?(?=\s+[\"“‘']?[A-Z0-9])|\n\s*\n|\n(?=\s*[-•*|])")
# A full stop after these is not the end of a sentence: initials and "U.S.", titles, months.
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b[A-Z]\.[A-Z]|\bU\.S|\bMr|\bMrs|\bMs|\bDr|\bSt|\bGen|\bCol|\bLt|\bSgt|\bAdm|\bCapt|\bMaj|"
    r"\bSen|\bRep|\bGov|\bNo|\bJan|\bFeb|\bMar|\bApr|\bAug|\bSept?|\bOct|\bNov|\bDec|\bCorp|\bCo|\bInc|\bLtd)\s?$"
)


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`: split at . ! ? before a capital, at blank lines and
    at list items, but not after initials, "U.S." (or TIME's "U.S ."), titles or month names."""
    spans, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if text[m.start()] == "." and _ABBREVIATION.search(text, max(0, m.start() - 6), m.start()):
            continue
        spans.append((start, m.end()))
        start = m.end()
    spans.append((start, len(text)))
    return [(s, e) for s, e in spans if text[s:e].strip()]


@dataclass(frozen=True)
class FoundTransfer:
    """A transfer as found: supplier, recipient, system (or None) and the sentence's span.
    `sale` is False for the "armed with X weapons" shape, which tells where arms came from, not
    that they were sold or delivered (it does not count for the arms_sale kind)."""

    supplier: str
    recipient: str
    system: str | None
    start: int
    end: int
    sale: bool = True


def find_transfers(
    text: str,
    systems: list[tuple[int, int, str]],
    org_countries: list[tuple[int, int, str]],
    person_countries: Sequence[tuple[int, int, str]] = (),
) -> list[FoundTransfer]:
    """Transfers stated in `text`. `systems` are (start, end, name) of system mentions;
    `org_countries` are (start, end, country) of organisation mentions that stand for a country;
    `person_countries` the same for mentions of people whose country is known ("President
    Reagan ... decided to sell arms to Iran")."""
    found: list[FoundTransfer] = []
    seen: set[tuple[str, str, str | None]] = set()
    # an official stands for his country as the subject of a verb ("Reagan decided to sell"), not
    # near a noun ("Regan's handling of the crisis since the covert arms sales to Iran")
    acting = sorted([*org_countries, *person_countries])
    spans = sentences(text)
    for i, (start, end) in enumerate(spans):
        words = text[start:end]
        named = [name for s, e, name in systems if start <= s < end]
        if not named and not _ARMS.search(words):
            continue
        carried = _carried_subject(text, spans, i)
        system = named[0] if named else None
        for supplier, recipient, sale in _pairs(words, start, org_countries, carried, acting):
            if supplier and recipient and supplier != recipient and (supplier, recipient, system) not in seen:
                seen.add((supplier, recipient, system))
                found.append(FoundTransfer(supplier, recipient, system, start, end, sale))
    return found


def _carried_subject(text: str, spans: list[tuple[int, int]], i: int) -> str | None:
    """The subject "It" stands for at the head of sentence `i`: the country the nearest sentence
    before it that does not open with "It" opens with ("Moscow is neutral. It is a supplier.")."""
    while i > 0 and _PRONOUN_SUBJECT.match(text[spans[i][0] : spans[i][1]]):
        i -= 1
        subject = _opening_subject(text[spans[i][0] : spans[i][1]])
        if subject or not _PRONOUN_SUBJECT.match(text[spans[i][0] : spans[i][1]]):
            return subject
    return None


def _opening_subject(sentence: str) -> str | None:
    """The country a sentence opens with, as its subject ("Moscow is officially neutral ...")."""
    head = sentence.lstrip(" \n\"“")
    countries = extract_countries(" ".join(head.split()[:3]))
    if len(countries) != 1:
        return None
    first = extract_countries(head.split()[0]) if head.split() else []
    return countries[0] if first == countries else None


def _pairs(
    sentence: str,
    offset: int,
    org_countries: list[tuple[int, int, str]],
    carried: str | None = None,
    acting: list[tuple[int, int, str]] | None = None,
) -> Iterator[tuple[str | None, str | None, bool]]:
    """(supplier, recipient, sale) candidates of one sentence, by the shapes in the module docstring.
    `carried` is the previous sentence's subject when this one opens with "It"; `acting` are the
    organisations and officials that may be the subject of a verb of supply."""
    acting = org_countries if acting is None else acting
    for m in _PASSIVE.finditer(sentence):
        if not _negated(sentence, m.start()):
            yield _first(sentence[m.end() : m.end() + 60], offset + m.end(), org_countries), _first(m.group("to")), True
    for m in _ARMED_WITH.finditer(sentence):
        supplier = _first(sentence[m.end() : m.end() + 25])
        if supplier and _ARMS.search(sentence[m.end() : m.end() + 30]):
            yield supplier, _last(sentence[: m.start()], offset, org_countries), False
    for m in _NOUN.finditer(sentence):
        if _negated(sentence, m.start()):
            continue
        recipient = _named_next(sentence[m.end() : m.end() + 40])
        window = sentence[max(0, m.start() - 25) : m.start()]
        attached = _PHRASE_BREAK.sub("", window, count=1)
        supplier = _first(m.group("what") or "") or _last(attached)
        if not supplier and not _TOPIC_BEFORE.search(sentence[: m.start()]):
            by = acting if _DECIDED.search(sentence[: m.start()]) else org_countries
            supplier = _last(sentence[: m.start()], offset, by) or carried
        yield supplier, recipient, True
    for m in _FORWARD.finditer(sentence):
        if _negated(sentence, m.start()):
            continue
        rest = sentence[m.end() :]
        if _NOUN_MARKER.search(sentence, 0, m.start()):
            continue  # "a subsidiary's transfer of ...", "the supply of": the noun shape reads it
        if _SHIP_VERB.match(m.group()) and not (
            _SHIP_AUXILIARY.search(sentence[: m.start()]) or _ARMS.match(" ".join(rest.split()[:1]))
        ):
            continue
        supplier = _last(sentence[: m.start()], offset, acting) or carried
        direct = re.match(r"\s+(?:the\s+)?(?P<who>[^.;]{1,30}?)\s+with\b", rest)
        if direct and _first(direct.group("who")):
            yield supplier, _first(direct.group("who")), True
            continue
        to = re.search(r"\b(?:to|for)\s+", rest)
        if to:
            yield supplier, _named_next(rest[to.end() : to.end() + 40]), True
    for m in _REVERSE.finditer(sentence):
        if _negated(sentence, m.start()):
            continue
        recipient = _last(sentence[: m.start()], offset, acting)
        rest = sentence[m.end() :]
        source = re.search(r"\bfrom\s+", rest[:80])
        if source and not re.search(r"\b(?:protect|defend|against)\w*", rest[: source.start()], re.I):
            yield _first(rest[source.end() : source.end() + 40], offset + m.end() + source.end(), org_countries), recipient, True


def _negated(sentence: str, at: int) -> bool:
    return bool(_NOT_DONE.search(sentence[max(0, at - 60) : at]) or _DENIED.search(sentence[:at]))


def _named_next(segment: str) -> str | None:
    """The country named right at the start of `segment` ("to Iran", "to the Iraqi army"), not
    further on ("to make Soviet submarines quieter")."""
    words = segment.lstrip()
    if not words or (words[0].islower() and not words.startswith("the ")):
        return None
    if _NON_STATE.match(words):
        return None
    return _first(" ".join(words.split()[:4]))


def _first(segment: str, offset: int = -1, org_countries: list[tuple[int, int, str]] | None = None) -> str | None:
    """The first country named in `segment`, or else the country of the first organisation in it."""
    countries = extract_countries(segment)
    if countries:
        return countries[0]
    if org_countries and offset >= 0:
        inside = [c for s, _, c in org_countries if offset <= s < offset + len(segment)]
        return inside[0] if inside else None
    return None


def _last(segment: str, offset: int = -1, org_countries: list[tuple[int, int, str]] | None = None) -> str | None:
    """The country named last in the clause that ends `segment` (its subject), or else the country
    of the last organisation in it."""
    clause = re.split(r"[,;:]\s|\b(?:that|which|who|while|after|before|when)\b", segment)[-1]
    for piece in reversed(re.split(r"\s+(?:and|but)\s+", clause)) if not extract_countries(clause) else [clause]:
        acting = _not_placed(piece)
        countries = extract_countries(acting)
        if countries:
            return _last_mentioned(acting, countries)
    if org_countries and offset >= 0:
        # the speaker's organisation: "Rosoboronexport's deputy chief said ... shipments for Libya"
        inside = [c for s, _, c in org_countries if offset <= s < offset + len(segment)]
        return inside[-1] if inside else None
    return None


def _not_placed(piece: str) -> str:
    """`piece` with the countries after a place preposition blanked out ("bound for Kuwait")."""
    out, at = [], 0
    for word in re.finditer(r"\S+", piece):
        # a possessive names an owner, not a place: "contracts to Japan's Toshiba"
        if (_PLACE_BEFORE.search(piece, 0, word.start()) and not re.search(r"['’]s?$", word.group())
                and extract_countries(word.group())):
            out.append(piece[at : word.start()] + " " * len(word.group()))
            at = word.end()
    return "".join(out) + piece[at:]


def _last_mentioned(piece: str, countries: list[str]) -> str:
    """Of the countries of `piece`, the one whose mention comes last."""
    if len(countries) == 1:
        return countries[0]
    for word in reversed(list(re.finditer(r"\S+", piece))):
        tail = extract_countries(piece[word.start() :])
        if tail:
            return tail[0]
    return countries[-1]
