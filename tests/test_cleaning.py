"""Golden tests: each seed file cleans to the expected title, date, outlet and body."""

from __future__ import annotations

import pytest

from index.text.cleaning import clean_raw_article, parse_date, title_from_body
from tests.conftest import SEEDS


def clean(seed_prefix: str):
    (path,) = SEEDS.glob(f"{seed_prefix}_*.txt")
    return clean_raw_article(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("seed", "title", "date", "source"),
    [
        ("000", "Lebanon, Russia to Sign Military Cooperation Treaty", None, None),
        ("001", "In a formal engagement held in Moscow, Alexander Fomin, a Colonel General…", None, None),
        ("002", "Iraq, Russia Sign Military-Technical Cooperation Agreement", "2019-10-20", "Sputnik"),
        ("003", "Russia, Iran Sign Joint Military Cooperation Agreement", None, "Sputnik"),
        ("004", "Russia may resume military cooperation with Libya", "2012-08-22", "Xinhua"),
    ],
)
def test_seed_metadata(seed, title, date, source):
    cleaned = clean(seed)
    assert (cleaned.title, cleaned.date, cleaned.source) == (title, date, source)


def test_reader_comments_are_removed_and_give_no_date():
    cleaned = clean("000")
    assert "Comments" not in cleaned.body
    assert "whyaskwhy" not in cleaned.body and "i.report" not in cleaned.body
    assert "appel d'offre" not in cleaned.body
    # The only dates in the file are comment timestamps: never taken as the article's date.
    assert cleaned.date is None
    assert cleaned.body.endswith("in the various military fields.”")


def test_sputnik_page_boilerplate_is_removed_and_sentences_kept():
    cleaned = clean("002")
    for junk in ("Listen Live", "Get short URL", "© AP Photo", "0 73", "Community standards",
                 "Comment via Facebook", "Armenian Defense Minister Lauds", "military cooperation, Iraq, Russia",
                 "The emblem of the Russian Defense Ministry"):
        assert junk not in cleaned.body, junk
    assert cleaned.body.startswith("Iraqi Defense Minister Khaled Obaidi and Director")
    assert "MOSCOW (Sputnik) — “Iraqi Defense Minister" in cleaned.body
    assert cleaned.body.endswith("who do not accept their system of belief.")
    assert len(cleaned.body.split("\n\n")) == 6


def test_captions_and_related_links_inside_the_article_are_removed():
    cleaned = clean("003")
    for junk in ("mediabank", "Sputnik International", "Subscribe", "in Facts and Details",
                 "Russia, Iran to Sign Agreement on Military-Technical Cooperation", "Newsfeed",
                 "log in or register", "Chats", "Заголовок"):
        assert junk not in cleaned.body, junk
    assert "TEHRAN, January 20 (Sputnik) – Russia and Iran signed on Tuesday" in cleaned.body
    assert "up to $13 billion in arms contracts" in cleaned.body
    assert len(cleaned.body.split("\n\n")) == 11


def test_headline_lists_after_the_article_are_removed():
    cleaned = clean("004")
    for junk in ("WTO membership", "Most Viewed", "Editor's Picks", "Diaoyu", "US Weekly", "|", "Updated:", "(Xinhua)"):
        assert junk not in cleaned.body, junk
    assert cleaned.body.startswith("MOSCOW - Russia may soon resume military-technical cooperation with Libya")
    assert cleaned.body.endswith("in line with the UN sanctions against the Gaddafi regime.")
    assert len(cleaned.body.split("\n\n")) == 10


def test_article_without_boilerplate_keeps_every_paragraph():
    raw = (SEEDS / next(p.name for p in SEEDS.glob("001_*.txt"))).read_text()
    cleaned = clean("001")
    assert cleaned.body.split("\n\n") == [line.strip() for line in raw.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2012-08-22", "2012-08-22"),
        ("26-FEB-1987 15:01:01.79", "1987-02-26"),
        ("02/08/63", "1963-02-08"),  # a two-digit year in the future is the last century
        ("not a date", None),
        ("", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_title_from_body_shortens_long_first_sentence():
    assert title_from_body("Short one. Second.") == "Short one."
    long = "One two three four five six seven eight nine ten eleven twelve thirteen fourteen."
    assert title_from_body(long) == "One two three four five six seven eight nine ten eleven twelve…"


def test_sentences_starting_like_a_timestamp_are_kept():
    raw = (
        "Deal signed\nUpdated: 2021-03-04 10:00\n"
        "Published reports say Egypt and France signed a deal for thirty fighter jets.\n"
        "Posted to Cairo, the jets arrive next year.\n"
    )
    cleaned = clean_raw_article(raw)
    assert cleaned.date == "2021-03-04"
    assert cleaned.body.split("\n\n") == [
        "Published reports say Egypt and France signed a deal for thirty fighter jets.",
        "Posted to Cairo, the jets arrive next year.",
    ]
