"""Defence extraction (index/text/defence): systems, organisations, people, kinds and transfers,
on the seed articles and on sentences written for the rules."""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from index.text.countries import article_countries
from index.text.defence import (
    KINDS,
    GazetteerError,
    article_text,
    extract,
    resolve_organisation,
    resolve_system,
)
from index.text.defence.gazetteer import build_gazetteer, load_gazetteer, parse_rows
from index.text.defence.people import _word_mentions
from index.text.defence.transfers import sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def seed(prefix: str):
    """The facts of a seed article read as raw text: its first line is the title."""
    path = next(SEEDS.glob(f"{prefix}_*.txt"))
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    return extract(title.strip(), body, article_countries(title, body))


def names(items) -> set[str]:
    return {item.name for item in items}


def facts_of(text: str, title: str = ""):
    return extract(title, text, article_countries(title, text))


# --- the seeds


def test_iran_seed_has_the_s300_and_the_russian_defence_ministry():
    facts = seed("003")
    s300 = next(s for s in facts.systems if s.name == "S-300")
    assert (s300.category, s300.country, s300.maker) == ("air_defence", "Russia", "Almaz-Antey")
    ministry = next(o for o in facts.organisations if o.name == "Ministry of Defence (Russia)")
    assert ministry.kind == "ministry"
    assert ministry.implied_by == "Russian Defense Minister"  # named through the minister's title only
    assert {"agreement", "visit_talks"} <= set(facts.kinds)


def test_iraq_and_libya_seeds_have_the_federal_service():
    iraq, libya = seed("002"), seed("004")
    assert "Federal Service for Military-Technical Cooperation" in names(iraq.organisations)
    assert {"Federal Service for Military-Technical Cooperation", "Rosoboronexport"} <= names(libya.organisations)
    assert {"Ministry of Defence (Iraq)", "Ministry of Defence (Russia)"} <= names(iraq.organisations)


def test_fomin_and_shoigu_are_people_with_their_roles():
    iraq, iran = seed("002"), seed("003")
    people = {p.name: p.role for p in iraq.people + iran.people}
    assert people["Alexander Fomin"] == "Director of the Russian Federal Service for Military-Technical Cooperation"
    assert people["Khaled Obaidi"] == "Iraqi Defense Minister"
    assert people["Sergei Shoigu"] == "Russian Defense Minister"
    assert "Hossein Dehghan" in people
    shoigu = next(p for p in iran.people if p.name == "Sergei Shoigu")
    assert len(shoigu.mentions) >= 5  # "Shoigu said" joins the first, titled mention


def test_treaty_seed_is_an_agreement_and_the_moscow_meeting_is_talks():
    treaty, meeting = seed("000"), seed("001")
    assert "agreement" in treaty.kinds
    assert "visit_talks" in meeting.kinds
    assert "arms_sale" not in meeting.kinds
    assert "Alexander Fomin" in names(meeting.people)


def test_seed_transfers_are_directed():
    assert [(t.supplier, t.recipient) for t in seed("002").transfers] == [("Russia", "Iraq")]
    # "Rosoboronexport deputy chief ... shipments for Libya's armed forces": the exporter's country.
    assert ("Russia", "Libya") in {(t.supplier, t.recipient) for t in seed("004").transfers}
    # "Russia denies supplying Syria with chemical weapons" is in the same page: no transfer.
    assert ("Russia", "Syria") not in {(t.supplier, t.recipient) for t in seed("004").transfers}


def test_spans_point_into_the_article_text_and_facts_are_json():
    path = next(SEEDS.glob("003_*.txt"))
    title, _, body = path.read_text(encoding="utf-8").partition("\n")
    facts = extract(title.strip(), body, article_countries(title, body))
    text = article_text(title.strip(), body)
    for item in facts.systems + facts.organisations + facts.people:
        for span in item.mentions:
            assert text[span.start : span.end] == span.text
    assert json.loads(json.dumps(asdict(facts)))["systems"][0]["name"] == "S-300"


# --- systems: aliases and spelling variants


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia sold S-300, S 300 and S300PMU-2 batteries.", ["S-300"]),
        ("The S-400 Triumf, known to NATO as the SA-21 Growler, is deployed.", ["S-400"]),
        ("Su-35, SU-35 and Su 35s are Flanker-E jets.", ["Su-35"]),
        ("India flies the Su-30MKI; Egypt the MiG-29M.", ["Su-30", "MiG-29"]),
        ("Patriot PAC-3 and MIM-104 interceptors", ["Patriot"]),
        ("T-72B3 tanks and a BMP-3", ["T-72", "BMP-3"]),
        ("the Leopard 2A6 and the Challenger 2", ["Leopard 2", "Challenger 2"]),
        ("Chinese-made Silkworm missiles, the HY-2", ["HY-2 Silkworm"]),
        ("FRANCE WILL HAVE ITS FIRST 50 MIRAGE IV A-BOMBERS", ["Mirage IV"]),
        ("two Scorpène and one Scorpene submarine", ["Scorpène"]),
    ],
)
def test_aliases_and_variants(text, expected):
    assert [s.name for s in facts_of(text).systems] == expected


def test_resolve_names():
    assert resolve_system("SA-21") == resolve_system("Triumf") == "S-400"
    assert resolve_system("Rosoboronexport") is None
    assert resolve_organisation("Pentagon") == "United States Department of Defense"
    assert resolve_organisation("FSVTS") == "Federal Service for Military-Technical Cooperation"
    assert resolve_organisation("Iraqi Defense Ministry") == "Ministry of Defence (Iraq)"
    assert resolve_organisation("Indian Air Force") == "Indian Air Force"
    assert resolve_organisation("the corner shop") is None


# --- ordinary words are not weapons


@pytest.mark.parametrize(
    "text",
    [
        "A lifelong Patriot fan, he watched the Patriots win the Super Bowl.",
        "They went Harpoon fishing off the coast for tuna.",
        "A Leopard was seen near the village; the zoo's Tiger escaped.",
        "Tiger Woods shot a 65 to lead the tournament.",
        "A sudden Rafale of wind tore the sails.",
        "She won the Javelin throw at the Olympic trials.",
        "The Jaguar sedan goes on sale in May; the Eagles lead 7-0.",
        "The storm, Typhoon Nanmadol, hit the islands.",
        "Workers at the Saab car factory voted against a strike.",
        "NEW DELHI, AUG 29: the prime minister spoke.",
        "Take vitamin B2 and print on A4 paper.",
        "NASSER SAID THE REVOLUTION WILL SOON TRIUMPH; HIS BACKFIRE WAS CANDID.",
        "The Flanker scored a try and the Hip-hop show caused Havoc in the stands.",
        "Boeing will deliver ten 737 jets to the airline; British Aerospace BAe 146 aircraft follow.",
    ],
)
def test_ordinary_words_are_not_systems(text):
    facts = facts_of(text)
    assert facts.systems == () and facts.organisations == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Poland deployed two Patriot batteries near the border.", "Patriot"),
        ("The navy fired a Harpoon at the hulk.", "Harpoon"),
        ("Germany will send Leopard tanks to the front.", "Leopard 2"),
        ("India signed for 36 Rafale fighter jets made by Dassault.", "Rafale"),
        ("Troops used Javelin anti-tank missiles.", "Javelin"),
        ("The army's Tiger attack helicopters flew over Mali.", "Eurocopter Tiger"),
    ],
)
def test_ambiguous_names_with_defence_context(text, expected):
    assert expected in names(facts_of(text).systems)


def test_civil_makers_count_where_defence_is_discussed():
    assert names(facts_of("Boeing won a Pentagon contract for tanker jets for the Air Force.").organisations) >= {"Boeing"}
    assert "Boeing" not in names(facts_of("Boeing sold ten 737 jets to the airline.").organisations)


# --- organisations


def test_organisations_from_the_gazetteer_and_from_patterns():
    facts = facts_of(
        "The Pentagon and NATO met Rosoboronexport. Iraqi Defense Ministry officials and the Indian Air Force "
        "attended; the Soviet army was not there."
    )
    assert names(facts.organisations) == {
        "United States Department of Defense", "NATO", "Rosoboronexport", "Ministry of Defence (Iraq)",
        "Indian Air Force",
    }


# --- people


def test_people_and_roles():
    facts = facts_of(
        "Iraqi Defense Minister Khaled Obaidi met Vyacheslav Dzirkaln, deputy director of the Federal Service "
        "for Military-Technical Cooperation. President Bush spoke. Fred Axelgard said the talks went well."
    )
    people = {p.name: p.role for p in facts.people}
    assert people == {
        "Khaled Obaidi": "Iraqi Defense Minister",
        "Vyacheslav Dzirkaln": "deputy director of the Federal Service for Military-Technical Cooperation",
        "Bush": "President",
        "Fred Axelgard": None,
    }


def test_department_secretaries_and_occupations_mark_people():
    facts = facts_of(
        "Commerce Secretary Malcolm Baldrige objected. Undersecretary of State John Bolton flew in. "
        "Northrop hired Saudi businessman Adnan Khashoggi, special prosecutor Lawrence Walsh found."
    )
    people = {p.name: p.role for p in facts.people}
    assert people["Malcolm Baldrige"] == "Commerce Secretary"
    assert people["John Bolton"] == "Undersecretary of State"
    assert people["Adnan Khashoggi"] == "Saudi businessman"
    assert people["Lawrence Walsh"] in ("prosecutor", "special prosecutor")


def test_company_names_before_said_are_not_people():
    facts = facts_of("Thai Airways said it bought two jets. International Lease said the sale closed. "
                     "Larissa Industries said it makes parts for Navy submarines.")
    assert facts.people == ()


def test_people_in_capitals_need_a_title():
    facts = facts_of("SECRETARY OF STATE DEAN RUSK CHATTED WITH PRESIDENT DE GAULLE . THE MEETING WENT WELL .")
    assert {p.name for p in facts.people} == {"Dean Rusk", "De Gaulle"}


# --- kinds


@pytest.mark.parametrize(
    ("title", "text", "kind"),
    [
        ("", "Russia will deliver S-300 missile systems to Iran under a contract.", "arms_sale"),
        ("Lebanon, Russia to sign military treaty", "The two defence ministries signed the agreement.", "agreement"),
        ("", "The navies held joint military exercises in the Baltic.", "exercise"),
        ("", "NATO will send military trainers to train Iraqi troops.", "training"),
        ("", "The firms will co-produce the tank under licence in India.", "coproduction"),
        ("", "Washington pledged $300 million in military aid to Kyiv.", "military_aid"),
        ("", "The defence minister held talks with his counterpart during a visit to Moscow.", "visit_talks"),
        ("", "The EU kept its arms embargo on China in place.", "sanctions"),
    ],
)
def test_kinds(title, text, kind):
    assert kind in facts_of(text, title).kinds


@pytest.mark.parametrize(
    ("title", "text", "kind"),
    [
        ("", "Japan eased its decades-old ban on arms exports and named North Korea a threat.", "arms_sale"),
        ("", "The EU kept its embargo on arms sales to China; its tanks stay home.", "arms_sale"),
        ("", "Gulf shipping is at risk: the ships face new anti-ship missiles.", "arms_sale"),
        ("", "Japan will tighten its export control system after exports of machines for submarines.", "arms_sale"),
        ("", "Sadr orders fighters to lay down weapons in Najaf.", "arms_sale"),
        ("", "Airbus will open a training centre for the missile maker's engineers.", "training"),
        ("", "The defence minister told a news conference the missiles were ready.", "visit_talks"),
        ("", "A U.S. firm may supply radiator tanks for the army's trucks.", "arms_sale"),
    ],
)
def test_kinds_not_fired_by_look_alike_phrases(title, text, kind):
    assert kind not in facts_of(text, title).kinds


@pytest.mark.parametrize(
    ("title", "text", "kind"),
    [
        ("Canada defends submarine fleet", "Canada defended its decision to buy second-hand submarines.", "arms_sale"),
        ("", "THE BANK TRANSFERRED FUNDS TO BUY ARMS AND PAY MERCENARIES .", "arms_sale"),
        ("", "The U.S. took over the training of the Vietnamese army.", "training"),
    ],
)
def test_kinds_from_a_verb_and_its_object(title, text, kind):
    assert kind in facts_of(text, title).kinds


def test_an_armed_with_transfer_is_not_a_sale():
    facts = facts_of("THE VIETNAMESE ARMY IS ALMOST COMPLETELY ARMED WITH U.S . WEAPONS .")
    assert [(t.supplier, t.recipient) for t in facts.transfers] == [("United States", "Vietnam")]
    assert "arms_sale" not in facts.kinds


def test_no_kinds_without_defence():
    facts = facts_of("The unions held talks with the company and signed an agreement on pensions.")
    assert facts.kinds == ()
    # an airline's jets and aircraft are not defence words
    assert facts_of("The airline sold ten of its jets and will lease the aircraft back until deliveries of new "
                    "jets; it signed a contract with the maker.").kinds == ()
    assert set(KINDS) == {
        "arms_sale", "agreement", "exercise", "training", "coproduction", "military_aid", "visit_talks", "sanctions",
    }


# --- direction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Russia will deliver S-300 systems to Iran.", [("Russia", "Iran", "S-300")]),
        ("Iraq buys Su-25 attack jets from Russia.", [("Russia", "Iraq", "Su-25")]),
        ("Moscow supplied Damascus with MiG-29 fighters.", [("Russia", "Syria", "MiG-29")]),
        ("Proceeds from the sale of U.S. weapons to Iran were diverted.", [("United States", "Iran", None)]),
        ("The vessel was sold to Canada by the Royal Navy.", [("United Kingdom", "Canada", None)]),
        ("Russia denies supplying Syria with chemical weapons.", []),
        ("The Army is considering buying British Rapier missiles.", []),
        ("France and Germany will build tanks.", []),
        ("Russia will deliver grain to Egypt.", []),
        ("Thatcher approved the sale of anti-aircraft missiles to Nicaraguan Contra rebels.", []),
        ("Iran said North had tried to obtain 20 Blowpipe missiles from Britain.", []),
    ],
)
def test_transfers(text, expected):
    assert [(t.supplier, t.recipient, t.system) for t in facts_of(text).transfers] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a seller named as an official: his role's country, or the capital the story was filed from
        ("WASHINGTON, March 15 - President Reagan admitted he was wrong to sell arms to Iran.",
         [("United States", "Iran", None)]),
        ("LONDON - Soviet leader Mikhail Gorbachev agreed to sell MiG-29 fighters to India.",
         [("Russia", "India", "MiG-29")]),
        ("President Reagan admitted he was wrong to sell arms to Iran.", []),
        ("WASHINGTON, March 4 - The Senate met. Later Fred Axelgard was wrong to sell arms to Iran.", []),
        # "It" carries the previous sentence's subject
        ("Moscow is officially neutral in the war. It is a major arms supplier to Iraq.", [("Russia", "Iraq", None)]),
        ("Diplomats met in Geneva. It is a major arms supplier to Iraq.", []),
        # a ship carries, it does not supply; a place is not the supplier
        ("A Kuwaiti ship which sailed to Bahrain with U.S. arms for Bahrain was hit.", []),
        ("Soviet cargo ships bound for Kuwait unload arms for road delivery to Iraq.", [("Russia", "Iraq", None)]),
        ("Britain will ship Rapier missiles to Oman.", [("United Kingdom", "Oman", "Rapier")]),
        # a sale that is the topic of a report, or a denied report, is not stated
        ("Foulkes said the U.S. Tower Commission report on the sale of arms to Iran showed errors.", []),
        ("Reagan will be questioned about the secret sale of arms to Iran.", []),
        ("The White House denied a report that the United States was continuing to ship arms to Iran.", []),
    ],
)
def test_transfer_sellers_named_by_people_pronouns_and_carriers(text, expected):
    assert [(t.supplier, t.recipient, t.system) for t in facts_of(text).transfers] == expected


def test_sentences_do_not_break_at_abbreviations():
    text = "Shipments of U.S. arms to Iran began. Gen. Smith left.\n\nTHE U.S . NAVY SAILED . IT RETURNED ."
    assert [text[s:e].strip() for s, e in sentences(text)] == [
        "Shipments of U.S. arms to Iran began.", "Gen. Smith left.", "THE U.S . NAVY SAILED .", "IT RETURNED .",
    ]


# --- the gazetteer itself


def test_gazetteer_size_and_no_shared_aliases():
    gazetteer = load_gazetteer()  # build_gazetteer raises on an alias of two entries
    systems = [e for e in gazetteer.entries if e.type == "system"]
    organisations = [e for e in gazetteer.entries if e.type == "organisation"]
    assert len(systems) >= 300 and len(organisations) >= 150
    assert {e.category for e in systems} == {
        "aircraft", "helicopter", "air_defence", "missile", "ship", "submarine", "armour", "artillery", "small_arms",
    }
    assert all(e.country and e.maker for e in systems)


def test_malformed_gazetteer_rows_are_named():
    header = "type\tname\taliases\tcategory\tcountry\tmaker\tflags\n"
    with pytest.raises(GazetteerError, match="row 2 .* 3 columns"):
        parse_rows(header + "system\tX-1\tfoo\n", "g.tsv")
    with pytest.raises(GazetteerError, match="unknown type/category"):
        parse_rows(header + "system\tX-1\t\tspaceship\tRussia\tACME\t\n", "g.tsv")
    rows = parse_rows(header + "system\tX-1\tZ-9\tmissile\tRussia\tA\t\nsystem\tY-2\tZ 9\tmissile\tRussia\tB\t\n", "g.tsv")
    with pytest.raises(GazetteerError, match="already an alias of 'X-1'"):
        build_gazetteer(rows)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(["Fomin", "fomin", "FOMIN", "O'Neil", "Al-Sadr", "é1", "-", "_", " ", "'", "x", "\n"]),
                  max_size=16).map("".join),
    word=st.sampled_from(["Fomin", "fomin", "FOMIN", "O'Neil", "Al-Sadr", "é1", "x'x"]),  # the last overlaps itself
    any_case=st.booleans(),
)
@example(text="x'x'x x'x", word="x'x", any_case=False)
def test_surname_mentions_are_the_regexs_matches(text: str, word: str, any_case: bool) -> None:
    """A surname's later mentions are found by plain text search: the same spans as the pattern
    each surname was compiled into before (a whole word: no word character or hyphen beside it)."""
    pattern = rf"(?<![\w-]){re.escape(word)}(?![\w-])"
    expected = [m.span() for m in re.finditer(pattern, text, re.I if any_case else 0)]
    assert list(_word_mentions(text, word, any_case)) == expected
