"""Country extraction: names, short forms, adjectives, old names, metonyms and the look-alikes."""

from __future__ import annotations

import pytest

from index.text.cleaning import clean_raw_article
from index.text.countries import canonical_names, count_countries, extract_countries, find_dateline, normalise_country
from tests.conftest import SEEDS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Names and common short forms, each under one canonical name.
        ("Russia and the Russian Federation", ["Russia"]),
        ("The U.S., the US, the USA and America", ["United States"]),
        ("Britain, Great Britain, the UK, the U.K. and England", ["United Kingdom"]),
        ("the Islamic Republic of Iran", ["Iran"]),
        ("Seoul's Republic of Korea", ["South Korea"]),
        # Adjectives and demonyms, plural too.
        ("Russian, Iranian, Lebanese and Libyan officials", ["Russia", "Iran", "Lebanon", "Libya"]),
        ("Iraqi, American, British, French and Chinese envoys",
         ["Iraq", "United States", "United Kingdom", "France", "China"]),
        ("Israelis and Palestinians", ["Israel", "Palestine"]),
        ("Saudis, Emiratis and Kuwaitis", ["Saudi Arabia", "United Arab Emirates", "Kuwait"]),
        ("Chinese-made missiles", ["China"]),
        # Old names take today's country (Soviet Union -> Russia, the two Germanys -> Germany).
        ("the Soviet Union, the USSR and Soviet forces", ["Russia"]),
        ("West Germany, East Germany and the GDR", ["Germany"]),
        ("Burma, Zaire, Ceylon, Kampuchea, Rhodesia and Swaziland",
         ["Myanmar", "DR Congo", "Sri Lanka", "Cambodia", "Zimbabwe", "Eswatini"]),
        ("Yugoslav and Czechoslovak delegations", ["Yugoslavia", "Czechoslovakia"]),
        # First-mention order, no duplicates, possessives and hyphenated compounds.
        ("Iran-Iraq war: Iraq's army and Iran's navy", ["Iran", "Iraq"]),
        ("U.S.-Soviet talks", ["United States", "Russia"]),
        # The longest name wins over the shorter one inside it.
        ("Guinea, Guinea-Bissau, Equatorial Guinea and Papua New Guinea",
         ["Guinea", "Guinea-Bissau", "Equatorial Guinea", "Papua New Guinea"]),
        ("Niger borders Nigeria", ["Niger", "Nigeria"]),
        ("Dominica is not the Dominican Republic", ["Dominica", "Dominican Republic"]),
        ("South Sudan split from Sudan", ["South Sudan", "Sudan"]),
        ("the Democratic Republic of Congo and Congo-Brazzaville", ["DR Congo", "Republic of the Congo"]),
        ("Congolese troops in the Congo", ["DR Congo"]),
        ("North Korean missiles; a Korean carmaker", ["North Korea", "South Korea"]),
        ("Taiwan, the Republic of China, and the People's Republic of China", ["Taiwan", "China"]),
        ("American Samoa and Samoa", ["American Samoa", "Samoa"]),
        # Names over a line break, as in wire copy, and accents or none.
        ("South\nKorea", ["South Korea"]),
        ("Côte d’Ivoire or Cote d'Ivoire", ["Ivory Coast"]),
        ("St. Lucia and Saint Kitts and Nevis", ["Saint Lucia", "Saint Kitts and Nevis"]),
        # Phrases that hold a country's name but do not mean it.
        ("the Persian Gulf and the Indian Ocean", []),
        ("Latin America and South American markets", []),
        ("the Korean Peninsula", []),
        ("the Uruguay Round of GATT", []),
        ("a Dutch auction of preferred shares", []),
        ("the Inter-American Development Bank and the Pan American Health Organization", []),
        # US states and Canadian provinces are their country; Jersey alone is not the island.
        ("New Mexico and New Jersey", ["United States"]),
        ("Jersey City", []),
        ("Houston, Texas", ["United States"]),
        ("Ontario and British Columbia", ["Canada"]),
    ],
)
def test_extract_countries(text, expected):
    assert extract_countries(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("turkey and chad for dinner in china", []),  # lower case: not the countries
        ("Turkey and Chad", ["Turkey", "Chad"]),
        ("they told us", []),
        ("Us and them", []),  # codes count only in capitals
        ("the uk and the usa", []),
    ],
)
def test_case_tells_names_from_words(text, expected):
    assert extract_countries(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Michael Jordan scored", []),
        ("He met Vernon Jordan.", []),
        ("King Abdullah of Jordan", ["Jordan"]),
        ("Visiting Jordan, he said", ["Jordan"]),
        ("Arms For Jordan", ["Jordan"]),  # title-case headlines capitalise every word
        ("Russia Arms Jordan", ["Russia", "Jordan"]),
        ("Chad Wolf said", []),
        ("Chad Wolf, the acting secretary", []),
        ("Chad President Idriss Deby", ["Chad"]),
        ("Chad Says It Will Fight", ["Chad"]),
        ("Georgia and Russia fought in 2008", ["Georgia", "Russia"]),
        ("Russia, Georgia and Armenia", ["Russia", "Georgia", "Armenia"]),
        ("Fort Benning, Georgia", ["United States"]),
        ("stores in Alabama, Florida and Georgia", ["United States"]),
    ],
)
def test_countries_that_are_also_people_or_states(text, expected):
    assert extract_countries(text) == expected


def test_currencies_and_listing_places_are_not_mentions():
    assert extract_countries("a loan of 10 mln U.S. dlrs and 5 mln Swiss francs") == []
    assert extract_countries("The bonds will be listed in Luxembourg.") == []
    assert extract_countries("Luxembourg and the U.S. dollar") == ["Luxembourg"]


def test_ticker_symbols_are_not_mentions():
    assert extract_countries("ROCKWELL <ROK> GETS CONTRACT; Union Carbide <UK> and <UK.N>") == []
    assert extract_countries("<ROK> sells jets to the ROK") == ["South Korea"]


def test_count_countries():
    text = "Iran talks\nTEHRAN, Jan 3 - Iranian and Russian officials met; Iran and Russia agreed."
    assert count_countries(text) == {"Iran": 4, "Russia": 2}  # title, dateline, Iranian, Iran
    assert list(count_countries(text)) == extract_countries(text)
    assert count_countries("Fort Benning, Georgia; Georgia") == {"United States": 2}
    assert count_countries("") == {}


def test_capitals_as_metonyms_can_be_left_out():
    text = "Moscow and Tehran signed; Washington and Beijing objected."
    assert extract_countries(text) == ["Russia", "Iran", "United States", "China"]
    assert extract_countries(text, capitals=False) == []
    # A capital in a dateline is where the story was filed, not a metonym: it always counts.
    assert extract_countries("MOSCOW (Sputnik) — Talks began", capitals=False) == ["Russia"]
    # London and Paris are mostly markets and meeting venues in wire copy: never counted.
    assert extract_countries("talks in London and Paris") == []


def test_all_capitals_text():
    assert extract_countries("IRAN AND IRAQ SIGN ACCORD WITH THE SOVIET UNION") == ["Iran", "Iraq", "Russia"]
    # TIME writes "U.S ." and uses "US" only as the pronoun.
    assert extract_countries("LET US SAY THE U.S . WILL HELP BRITAIN") == ["United States", "United Kingdom"]
    assert extract_countries("US TO SELL JETS TO TAIWAN") == ["United States", "Taiwan"]
    assert extract_countries("US-LED FORCES") == ["United States"]


def test_empty_and_countryless_text():
    assert extract_countries("") == []
    assert extract_countries("The committee met on Tuesday.") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Wire datelines at the head of the body, under the title: the place it was filed from
        # counts, even where the body names no country and the city is no metonym.
        ("SCHULT HOMES UNITS OFFERED\nNEW YORK, Feb 26 - The underwriters said the offering",
         ["United States"]),
        ("Shr 30 cts\nCHICAGO, Feb 26 - Shr 30 cts vs 12 cts", ["United States"]),
        ("SAO PAULO, March 3 - Petrobras said output rose", ["Brazil"]),
        ("TOKYO, April 2 - Press reports said", ["Japan"]),
        ("WASHINGTON, March 12 - Aid for Ecuador", ["United States", "Ecuador"]),
        ("PEKING, March 3 - The ministry said", ["China"]),  # an old name of Beijing
        ("HANOVER, March 3 - The fair opened", ["Germany"]),  # the most populous of that name
        ("JOHANNESBURG March 13 - Gold output fell", ["South Africa"]),
        ("New York, June 1 - Shares rose", ["United States"]),  # mixed case, with a date
        ("****LONDON, March 26 - Sugar traders said", ["United Kingdom"]),
        ("MURDOCHVILLE, Que., April 2- Seventeen miners", ["Canada"]),
        # A region after the city decides: a US state, a Canadian province, a country.
        ("PHOENIX, Ariz., April 13 - StateWest said", ["United States"]),
        ("MEXICO, Mo., March 3 - A plant closed", ["United States"]),  # not Mexico
        ("LONDON, Ontario, March 3 - The firm said", ["Canada"]),
        ("VIENNA, Va., March 3 - The agency said", ["United States"]),
        ("ATLANTA, Ga., March 3 - The Georgia legislature voted", ["United States"]),  # the state
        ("ATLANTA, Georgia, March 3 - The legislature voted", ["United States"]),
        ("TBILISI, Georgia, March 3 - The parliament voted", ["Georgia"]),
        # Seed-like datelines with the outlet, under a summary paragraph.
        ("Iraq, Russia Sign Agreement\nIraqi officials said.\n\nMOSCOW (Sputnik) — The minister said",
         ["Iraq", "Russia"]),
        ("Lebanon Talks\nSummary.\n\nTEHRAN, January 20 (Sputnik) – Lebanese envoys met",
         ["Lebanon", "Iran"]),
        ("Cooperation resumes\nMOSCOW - The agency said it may resume cooperation with Libya",
         ["Russia", "Libya"]),
        ("Arms deal\nWASHINGTON (Reuters) - Georgia and Azerbaijan signed", ["United States", "Georgia", "Azerbaijan"]),
    ],
)
def test_datelines(text, expected):
    assert extract_countries(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ANALYSIS - Talks stall again",  # a heading in capitals, no city
        "EXCLUSIVE - The deal was signed",
        "SPECIAL REPORT - How the deal was done",
        "READING, WRITING AND ARITHMETIC - a guide",  # a city, but no date, outlet or known region
        "NICE WORK IF YOU CAN GET IT",  # a city, but no dash
        "The minister said.\nThe talks in Paris, London and Tokyo went on",  # not at a line head
        "US-LED FORCES ADVANCE",  # a hyphen, not a dateline's dash
    ],
)
def test_not_datelines(text):
    assert find_dateline(text) is None
    assert extract_countries(text) in ([], ["United States"])


def test_dateline_span_and_place():
    text = "Title\nTEHRAN, January 20 (Sputnik) – Russia and Iran signed"
    dateline = find_dateline(text)
    assert dateline is not None
    assert (dateline.place, dateline.country) == ("TEHRAN", "Iran")
    assert text[dateline.start : dateline.end] == "TEHRAN, January 20 (Sputnik) –"


def test_only_a_dateline_near_the_head_counts():
    paragraphs = ["Title", *(f"Paragraph {n} says nothing." for n in range(6)), "LONDON, March 3 - Late news"]
    assert extract_countries("\n\n".join(paragraphs)) == []
    assert extract_countries("\n\n".join(paragraphs[:2] + paragraphs[-1:])) == ["United Kingdom"]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        ("000", {"Lebanon", "Russia"}),
        ("001", {"Russia"}),
        ("002", {"Iraq", "Russia", "Syria"}),
        ("003", {"Iran", "Russia"}),
        ("004", {"Libya", "Russia", "Afghanistan"}),
    ],
)
def test_seed_articles(seed, expected):
    (path,) = SEEDS.glob(f"{seed}_*.txt")
    cleaned = clean_raw_article(path.read_text(encoding="utf-8"))
    found = extract_countries(f"{cleaned.title}\n{cleaned.body}")
    assert expected <= set(found)
    assert found[0] in expected  # a headline country comes first


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("iran", "Iran"), ("Iranian", "Iran"), ("IR", "Iran"), ("irn", "Iran"),
        ("Islamic Republic of Iran", "Iran"), ("  Iran  ", "Iran"),
        ("usa", "United States"), ("u.s.", "United States"), ("United States of America", "United States"),
        ("uk", "United Kingdom"), ("GB", "United Kingdom"), ("Great Britain", "United Kingdom"),
        ("USSR", "Russia"), ("soviet union", "Russia"), ("Russian Federation", "Russia"),
        ("west germany", "Germany"), ("Burma", "Myanmar"), ("Türkiye", "Turkey"),
        ("ivory coast", "Ivory Coast"), ("Côte d'Ivoire", "Ivory Coast"), ("korea", "South Korea"),
        ("Georgia", "Georgia"), ("palestinian", "Palestine"), ("congo", "DR Congo"),
        ("Republic of the Congo", "Republic of the Congo"), ("CG", "Republic of the Congo"),
        # Not countries: a capital, a US state, a sea, nothing.
        ("Moscow", None), ("Texas", None), ("Ontario", None), ("Persian Gulf", None), ("Atlantis", None), ("", None),
    ],
)
def test_normalise_country(value, expected):
    assert normalise_country(value) == expected


def test_every_extracted_name_normalises_to_itself():
    names = canonical_names()
    assert {"Russia", "Iran", "United States", "United Kingdom", "South Korea", "Yugoslavia"} <= set(names)
    assert all(normalise_country(name) == name for name in names)


def test_article_countries_are_what_the_article_is_about():
    from index.text.countries import article_countries

    body = (
        "MOSCOW (Sputnik) — Russia and Iraq signed a military agreement on Thursday. "
        "Iraq thanked Russia for its support. Officials said trade partners such as Japan "
        "were not involved."
    )
    # Dateline, lead sentence and repeated mentions count; a passing mention of Japan does not.
    assert article_countries("Iraq, Russia sign deal", body) == ["Iraq", "Russia"]
    assert article_countries("Arms talks", "Oman hosted the talks.") == ["Oman"]  # lead sentence
    assert article_countries("Talks", "Nothing here. Later, Peru and Peru again.") == ["Peru"]  # twice
    assert article_countries("Talks", "Nothing here. Later, Chile once.") == []
