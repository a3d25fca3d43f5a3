"""The kinds of defence cooperation an article reports, by weighted phrase rules (multi-label).

Each kind has phrase patterns with weights; a match in the title counts double. A kind is
reported when its score reaches `THRESHOLD`. Nothing is reported for an article with fewer than
`MIN_DEFENCE_CUES` defence words or gazetteer mentions: "talks" and "agreement" are everywhere in
news, and only an article about defence makes them defence cooperation.
"""

from __future__ import annotations

import re

KINDS = (
    "arms_sale", "agreement", "exercise", "training", "coproduction", "military_aid", "visit_talks", "sanctions",
)
THRESHOLD = 2.0
MIN_DEFENCE_CUES = 1
_MAX_PER_PATTERN = 3  # one phrase repeated down an article is still one piece of evidence

_ARMS = (
    r"(?:arms|weapons?|weaponry|missiles?|jets?|aircraft|fighters?|helicopters?|tanks?|submarines?|frigates?|"
    r"warships?|vessels?|systems?|equipment|munitions|ammunition|rifles|hardware|drones?|howitzers?|batteries)"
)
# "ships" and "shipping" are boats and sea trade in defence news, not sales; "export controls" and
# "export terminals" are rules and ports.
_SALE_VERB = (
    r"(?:sell|sells|sold|selling|sale|sales|buy|buys|bought|buying|purchas\w*|deliver\w*|suppl(?:y|ies|ied|ying)|"
    r"shipped|shipments?|(?:export|import)(?:s|ed|ing|ers?)?(?! controls?| terminals?)|acquir\w*|acquisition|"
    r"procure\w*|leas(?:e|es|ed|ing)|contracts?|tenders?)"
)
# Arms that are only weapons (not "systems", "equipment" or "jets", which airliners and
# computers are too, nor "fighters", who are often militiamen), for the verb-and-object rule.
_WEAPONS = (
    r"(?:arms|weapons?|weaponry|missiles?|rockets|fighter (?:jets?|aircraft|planes?)|warplanes?|bombers?|"
    r"combat (?:jets?|aircraft|planes?)|military (?:aircraft|helicopters?|planes?|jets?|equipment|hardware)|"
    r"(?:attack |military |helicopter )?gunships?|(?<!fuel )(?<!storage )(?<!oil )(?<!water )(?<!radiator )(?<!gas )tanks|"
    r"submarines?|frigates?|warships?|destroyers?|corvettes?|"
    r"howitzers?|rifles|munitions|ammunition|artillery|drones?)"
)
# A sale phrase that is the object of a ban is an embargo, not a sale: "a ban on arms exports",
# "easing an arms exports ban", "an embargo on arms sales".
_BANNED_BEFORE = re.compile(
    r"\b(?:ban|bans|banned|banning|embargo(?:es)?|moratorium|prohibit\w*|restrictions?|curbs?)\s+(?:on\s+|of\s+)?"
    r"(?:all\s+|the\s+|its\s+|their\s+|future\s+|further\s+)*$",
    re.I,
)
_BANNED_AFTER = re.compile(r"^\s+(?:ban|bans|embargo(?:es)?|moratorium|controls?|restrictions?|curbs?)\b", re.I)

class _Near:
    """Matches of `first` with a match of `second` within `window` characters after it, in one
    sentence (no "." or ";" between them); as fast as two plain scans, unlike a windowed regex."""

    def __init__(self, first: str, second: str, window: int) -> None:
        self.first, self.second, self.window = re.compile(first, re.I), re.compile(second, re.I), window

    def findall(self, text: str) -> list[str]:
        found = []
        for m in self.first.finditer(text):
            after = text[m.end() : m.end() + self.window]
            stop = re.search(r"[.;]", after)
            if self.second.search(after[: stop.start()] if stop else after):
                found.append(m.group(0))
        return found


class _Unbanned:
    """Matches of `pattern` that are not the object of a ban ("arms exports ban", "embargo on arms
    sales"): those count for sanctions, not for a sale."""

    def __init__(self, pattern: str) -> None:
        self.pattern = re.compile(pattern, re.I)

    def findall(self, text: str) -> list[str]:
        return [
            m.group(0)
            for m in self.pattern.finditer(text)
            if not _BANNED_BEFORE.search(text[max(0, m.start() - 40) : m.start()])
            and not _BANNED_AFTER.match(text[m.end() : m.end() + 20])
        ]


class _ObjectOf:
    """Weapons as the object of a sale verb, up to four words after it ("to buy second-hand
    submarines", "the sale of 28 fighter planes"), the verb not the object of a ban. The weapon
    words are looked for first: they are rarer than verbs, so most articles cost one scan."""

    def __init__(self, verb: str, noun: str) -> None:
        self.verb = re.compile(verb + r"\s+(?:[\w.,'-]+\s+){0,4}$", re.I)
        self.noun = re.compile(noun, re.I)

    def findall(self, text: str) -> list[str]:
        found = []
        for m in self.noun.finditer(text):
            before = text[max(0, m.start() - 80) : m.start()]
            verb = self.verb.search(before)
            if verb and not _BANNED_BEFORE.search(before[: verb.start()][-40:]):
                found.append(before[verb.start() :] + m.group(0))
        return found


# (pattern, weight); patterns are case-insensitive.
_RULES: dict[str, list[tuple[re.Pattern[str] | _Near | _Unbanned | _ObjectOf, float]]] = {
    "arms_sale": [
        (_Unbanned(r"\b(?:arms|weapons?)[- ](?:sales?|deals?|exports?|imports?|contracts?|purchases?|shipments?|"
                   r"deliver(?:y|ies)|transfers?|trade|supplies|suppliers?|exporters?)\b"), 2.0),
        # a sale verb with weapons as its object: "decision to buy second-hand submarines", "sale of
        # fighter planes", "contract for 18 F-14A Tomcat fighter aircraft", "FUNDS TO BUY ARMS"
        (_ObjectOf(r"\b(?:buy|buys|bought|buying|purchas(?:e|es|ed|ing)|sell|sells|sold|selling|"
                   r"sales? of|deliver(?:s|ed|ing)?|deliver(?:y|ies) of|suppl(?:y|ies|ied|ying)|acquir(?:e|es|ed|ing)|"
                   r"procur(?:e|es|ed|ing)|contracts? for|lease|leased|leasing)", rf"\b{_WEAPONS}\b"), 2.0),
        (_Unbanned(r"\bmilitary sales\b"), 2.0),  # "foreign military sales" (FMS): sales, not aid
        (_Near(rf"\b{_SALE_VERB}\b", rf"\b{_ARMS}\b", 80), 0.75),
        (_Near(rf"\b{_ARMS}\b", rf"\b{_SALE_VERB}\b", 60), 0.5),
        (re.compile(r"\b(?:newly )?acquired\b[^.;]{0,40}\bmissiles?\b|\bequipped itself with\b", re.I), 1.0),
    ],
    "agreement": [
        (_Near(r"\b(?:sign\w*|conclud\w*|ratif\w*|reach\w*|agreed|initial\w*)\b",
               r"\b(?:treaty|agreement|accord|pact|memorandum|protocol|deal)\b", 80), 2.0),
        (re.compile(r"\b(?:treaty|treaties|agreements?|accords?|pact|memorandum of understanding|MoU)\b", re.I), 0.75),
        (re.compile(r"\bagree[sd]? (?:to|on|in principle)\b", re.I), 2.0),
    ],
    "exercise": [
        (re.compile(r"\b(?:military |joint |naval |air |air-defen[cs]e |air defen[cs]e |war )?(?:exercises|exercise|drills|"
                    r"war games|wargames|manoeuvres|maneuvers)\b", re.I), 2.0),
    ],
    "training": [
        # "training" alone is as often a firm's or an airline's ("a training centre", "training
        # support"); qualified, or with troops as its object, it is military
        (re.compile(r"\b(?:military|joint|cadre|pilot|officer|combat|army|naval|police) (?:training|trainers|instructors)\b|"
                    r"\bmilitary (?:advisers|advisors)\b", re.I), 2.0),
        (re.compile(r"\b(?:training|trainers|instructors)\b", re.I), 1.0),
        (re.compile(r"\btrain(?:s|ed|ing)?(?: of)? (?:the )?(?:\w+ )?(?:troops|forces|army|soldiers|pilots|officers|"
                    r"personnel|police)\b", re.I), 2.0),
    ],
    "coproduction": [
        (re.compile(r"\b(?:co-?produc\w+|licen[cs]ed production|under licen[cs]e|licen[cs]e to (?:produce|build|"
                    r"manufacture)|joint ventures?|jointly (?:develop|produc|build|manufactur)\w*|joint (?:development|"
                    r"production|research|project)|research and development|technology transfer|transfer of "
                    r"technology|co-?develop\w*|technological help|assembl\w* locally|local assembly)\b|"
                    r"\bjoint (?:\w+ ){0,2}(?:helicopters?|aircraft|fighters?|tanks?|missiles?|warships?|programmes?|"
                    r"programs?)\b", re.I), 2.0),
        (re.compile(r"\b(?:develop|build)\w* (?:and build )?\d* ?\w+ (?:for|with) (?:the )?\w+ and\b", re.I), 1.0),
    ],
    "military_aid": [
        (re.compile(r"\b(?:military|defen[cs]e|security|arms) (?:aid|assistance|grants?|support package)\b|"
                    r"\baid promises\b|\bforeign military financing\b|\blend-lease\b", re.I), 2.0),
        (re.compile(r"\b(?:donat\w+|gift\w*|grant\w*) (?:of )?(?:\w+ )?(?:arms|weapons|equipment)\b", re.I), 2.0),
        (_Near(r"\b(?:aid|assistance|assist|help)\b", r"\b(?:troops|military|helicopters|arms|weapons)\b", 60), 1.0),
    ],
    "visit_talks": [
        (re.compile(r"\b(?:held talks|talks with|talks in|talks on|talks between|met with|meeting with|"
                    r"(?:official |state |first )?visit(?:ed|ing|s)? (?:to )?[A-Z]\w+|delegation|summit|"
                    r"ministerial|counterparts?|negotiations?|negotiators?|consultations)\b", re.I), 1.0),
        # a news or press conference is a statement, not talks between states
        (re.compile(r"\b(?:talks|meeting|discussions|negotiat\w+|(?<!news )(?<!press )conference|visit)\b", re.I), 0.75),
    ],
    "sanctions": [
        (re.compile(r"\b(?:sanctions?|embargo(?:es)?|(?:arms |weapons )?exports? ban|arms ban|weapons ban|ban on (?:arms|weapons|exports)|"
                    r"blacklist\w*|export controls?|boycotts?|barred \w+ from exporting)\b", re.I), 2.0),
    ],
}


TRANSFER_WEIGHT = 2.0  # a directed transfer the article states is a sale or delivery


def classify(title: str, body: str, defence_cues: int, transfers: int = 0) -> tuple[tuple[str, ...], dict[str, float]]:
    """The kinds an article reports (in KINDS order) and every kind's score.

    `defence_cues` is how many defence words and gazetteer mentions the article has; below
    MIN_DEFENCE_CUES no kind is reported (the scores are still returned, for inspection).
    `transfers` is how many directed transfers were found in it; each counts for arms_sale.
    """
    scores = {kind: 0.0 for kind in KINDS}
    scores["arms_sale"] += TRANSFER_WEIGHT * transfers
    for text, factor in ((title, 2.0), (body, 1.0)):
        for kind, rules in _RULES.items():
            for pattern, weight in rules:
                hits = min(len(pattern.findall(text)), _MAX_PER_PATTERN)
                scores[kind] += hits * weight * factor
    if defence_cues < MIN_DEFENCE_CUES:
        return (), scores
    return tuple(kind for kind in KINDS if scores[kind] >= THRESHOLD), scores
