"""Short items (wire briefs, AG News rows written as `title` line + `description` line) are
articles: cleaning keeps their text, and a file is dropped only for a reason that is true."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.pipeline.builder import build
from index.text.articles import read_articles
from index.text.cleaning import clean_raw_article
from search.engine import Engine
from tests.conftest import HashingEncoder

# Four AG News test rows (of the first 600) that were dropped as "no article text"; short
# quotes of the title and description, as an AG News row converts to a .txt file.
AG_NEWS = {
    "golden_girl": (
        "A new Golden Girl\n"
        "It took only 49.41 seconds for Tonique Williams-Darling to etch her name in the annals of "
        "Bahamian history. Williams-Darling crossed the finish line \n"
    ),
    # AG News writes a line break as a backslash.
    "power_grid": (
        "News: Sluggish movement on power grid cyber security\n"
        "Industry cyber security standards fail to reach some of the most vulnerable components of the power grid.\\\n"
    ),
    "postbag": "Service packs, senators and civil liberties\nLetters: The bulging postbag gives up its secrets\n",
    "fbi": "News: FBI seizes computers in first-ever criminal action against P2P network\nThe Associated Press By Curt Anderson\n",
}
SHAPES = {
    "one_sentence": "Chile and Peru held a joint naval drill off Callao on Monday.\n",
    "two_words": "Talks collapsed.\n",
    "headline_and_line": "Navies Meet Off Peru\nChile and Peru drill off Callao\n",
    "wire_unpunctuated": "ANKARA, March 3 - Turkey signed a frigate contract with Pakistan worth 1.5 billion dollars\n",
}


@pytest.mark.parametrize("text", [*AG_NEWS.values(), *SHAPES.values()], ids=[*AG_NEWS, *SHAPES])
def test_a_short_item_keeps_its_text(text: str) -> None:
    cleaned = clean_raw_article(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert cleaned.empty_reason is None
    # Every line is either the title or in the body: no word of the item is lost.
    for line in lines:
        assert line.rstrip("\\") in cleaned.body or line == cleaned.title, line


def test_a_short_item_s_first_line_is_its_title() -> None:
    assert clean_raw_article(AG_NEWS["fbi"]).title.startswith("News: FBI seizes computers")
    assert clean_raw_article(AG_NEWS["golden_girl"]).title == "A new Golden Girl"
    one = clean_raw_article(SHAPES["one_sentence"])
    assert one.title_derived and one.body == SHAPES["one_sentence"].strip()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no article text: the file is empty"),
        (b"  \n\n\t\n", "no article text: the file is empty"),
        (b"Home\nShare\nTweet\n| | |\n0 73\n", "no article text: every line reads as page furniture (menus, lone words, captions, credits, time stamps)"),
    ],
)
def test_a_dropped_file_names_its_true_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "item.txt"
    path.write_bytes(data)
    (skipped,) = read_articles(path)
    assert skipped.reason == reason  # type: ignore[union-attr]


def test_short_items_are_indexed_and_found(tmp_path: Path) -> None:
    source = tmp_path / "items"
    source.mkdir()
    for name, text in {**AG_NEWS, **SHAPES}.items():
        (source / f"{name}.txt").write_text(text, encoding="utf-8")
    report = build([source], tmp_path / "index", encoder=HashingEncoder())
    assert report.skipped == [] and report.articles == len(AG_NEWS) + len(SHAPES)
    with Engine.open(tmp_path / "index", encoder=HashingEncoder()) as engine:
        assert [h.id for h in engine.search("Williams-Darling Bahamian", mode="keyword")] == ["golden_girl"]
        assert [h.id for h in engine.search("postbag", mode="keyword")] == ["postbag"]
        assert [h.id for h in engine.search("frigate Pakistan", mode="keyword")] == ["wire_unpunctuated"]
        assert [h.id for h in engine.search("collapsed", mode="keyword")] == ["two_words"]
