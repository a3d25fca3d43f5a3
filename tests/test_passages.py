"""Passage splitting: sentences as syntok finds them, budgets hold, no text is dropped, offsets
are exact, overlap works, and the old regex splitter still cuts as it did (for old indexes)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.text.passages import SPLITTERS, sentence_spans, split_passages


def words(texts):
    return [len(t.split()) for t in texts]


def sentences(text: str, splitter: str = "syntok") -> list[str]:
    return [text[s:e] for s, e in sentence_spans(text, splitter)]


@pytest.mark.parametrize("splitter", SPLITTERS)
def test_sentence_spans_exclude_whitespace(splitter):
    text = "One two. Three four!  Five?\n\nSix"
    assert sentences(text, splitter) == ["One two.", "Three four!", "Five?", "Six"]


def test_abbreviations_titles_and_dates_do_not_end_a_sentence():
    text = "The U.S. Army signed a deal with Gen. Smith on Jan. 5. It takes effect in March."
    assert sentences(text) == ["The U.S. Army signed a deal with Gen. Smith on Jan. 5.", "It takes effect in March."]
    # What the regex splitter did, and why it was replaced.
    assert len(sentences(text, "regex")) == 5


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Prices rose 3.5 percent. Exports fell.", ["Prices rose 3.5 percent.", "Exports fell."]),
        ("J. R. R. Tolkien wrote it. Mr. Jones read it.", ["J. R. R. Tolkien wrote it.", "Mr. Jones read it."]),
        ('"We won," he said. "It is over." Then he left.', ['"We won," he said.', '"It is over."', "Then he left."]),
        ("It cost $1.2 bn. in 2020, i.e. too much. Talks ended.", ["It cost $1.2 bn. in 2020, i.e. too much.", "Talks ended."]),
        ("He didn't go. She did.", ["He didn't go.", "She did."]),
        ("A title line\n\nThe body starts here. Ends here.", ["A title line", "The body starts here.", "Ends here."]),
    ],
)
def test_sentences_of_news_text(text, expected):
    assert sentences(text) == expected


NEWS = """MOSCOW, Jan. 5 (Reuters) – Russia’s Rosoboronexport said on Monday it had signed a $1.5 bn.
contract with the U.A.E. for Pantsir-S1 systems, Gen. Ivanov told reporters.

“We don't comment on figures,” a spokesman said… The deal (approx. 50 units) follows talks
in St. Petersburg; deliveries start in 2021.Analysts at SIPRI didn’t expect it!

    Indented last paragraph?   Yes.   """


@pytest.mark.parametrize("splitter", SPLITTERS)
def test_spans_are_exact_and_cover_every_character(splitter):
    spans = sentence_spans(NEWS, splitter)
    covered = [False] * len(NEWS)
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end  # in order, not overlapping, not empty
        assert not NEWS[start].isspace() and not NEWS[end - 1].isspace()
        covered[start:end] = [True] * (end - start)
        previous_end = end
    assert all(covered[i] for i, char in enumerate(NEWS) if not char.isspace())


@pytest.mark.parametrize("overlap", [0, 1, 2])
@pytest.mark.parametrize("splitter", SPLITTERS)
def test_passage_offsets_round_trip_on_news_text(overlap, splitter):
    passages = split_passages(NEWS, words, max_tokens=20, overlap_sentences=overlap, splitter=splitter)
    assert all(NEWS[p.start : p.end] == p.text for p in passages)
    assert " ".join(p.text for p in passages).split()[:6] == NEWS.split()[:6]
    assert set(" ".join(p.text for p in passages).split()) == set(NEWS.split())


def test_syntok_keeps_titles_and_initials_in_their_sentence():
    first = sentences(NEWS, "syntok")[0]
    assert first.startswith("MOSCOW, Jan. 5 (Reuters)") and first.endswith("Gen. Ivanov told reporters.")
    assert sentences(NEWS, "regex")[0] == "MOSCOW, Jan."


def test_regex_is_the_default_splitter():
    text = "The U.S. Army signed it. Talks ended."
    assert sentence_spans(text) == sentence_spans(text, "regex") != sentence_spans(text, "syntok")


def test_unknown_splitter_is_an_error():
    with pytest.raises(ValueError, match="sentence splitter 'nltk' is not one of regex, syntok"):
        sentence_spans("One. Two.", "nltk")


def test_sentences_are_packed_under_the_budget():
    text = "Talks went on. Nobody left early. The deal was signed. Both sides agreed."
    passages = split_passages(text, words, max_tokens=7)
    assert [p.text for p in passages] == ["Talks went on. Nobody left early.", "The deal was signed. Both sides agreed."]
    assert all(text[p.start : p.end] == p.text for p in passages)


def test_overlap_repeats_the_last_sentence():
    text = "Talks went on. Nobody left early. The deal was signed."
    passages = split_passages(text, words, max_tokens=7, overlap_sentences=1)
    assert [p.text for p in passages] == ["Talks went on. Nobody left early.", "Nobody left early. The deal was signed."]


def test_a_long_last_sentence_is_not_carried_over_when_the_overlap_is_capped():
    text = "Talks went on. Nobody at all left the hall early that night. The deal was signed. Both agreed."
    uncapped = split_passages(text, words, max_tokens=14, overlap_sentences=1)
    capped = split_passages(text, words, max_tokens=14, overlap_sentences=1, overlap_tokens=4)
    # Uncapped, the 9-word sentence is embedded twice (the second time beside the next one).
    assert [p.text for p in uncapped] == [
        "Talks went on. Nobody at all left the hall early that night.",
        "Nobody at all left the hall early that night. The deal was signed.",
        "The deal was signed. Both agreed.",
    ]
    # Capped at 4 words: the long sentence is not carried, the 4-word one still is.
    assert [p.text for p in capped] == [
        "Talks went on. Nobody at all left the hall early that night.",
        "The deal was signed. Both agreed.",
    ]


def test_a_capped_overlap_carries_as_many_sentences_as_fit():
    text = "One two. Three four. Five six seven eight nine. Ten."
    passages = split_passages(text, words, max_tokens=9, overlap_sentences=2, overlap_tokens=4)
    assert [p.text for p in passages] == ["One two. Three four. Five six seven eight nine.", "Ten."]
    text = "One two. Three four. Five six. Seven eight nine ten."
    passages = split_passages(text, words, max_tokens=8, overlap_sentences=2, overlap_tokens=4)
    assert [p.text for p in passages] == ["One two. Three four. Five six.", "Three four. Five six. Seven eight nine ten."]
    passages = split_passages(text, words, max_tokens=8, overlap_sentences=2, overlap_tokens=3)
    assert [p.text for p in passages] == ["One two. Three four. Five six.", "Five six. Seven eight nine ten."]
    with pytest.raises(ValueError, match="overlap_tokens must not be negative"):
        split_passages(text, words, max_tokens=4, overlap_tokens=-1)


def test_sentence_longer_than_budget_is_cut_between_words():
    text = "one two three four five six seven."
    passages = split_passages(text, words, max_tokens=3)
    assert [p.text for p in passages] == ["one two three", "four five six", "seven."]


def test_empty_text_has_no_passages():
    assert split_passages("   ", words, max_tokens=5) == []


def test_budget_must_be_positive():
    with pytest.raises(ValueError):
        split_passages("a.", words, max_tokens=0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abcAB .!?\n\"'’()–…5", min_size=0, max_size=40), min_size=0, max_size=8),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=2),
    st.sampled_from(SPLITTERS),
    st.integers(min_value=0, max_value=6),
)
def test_no_word_is_lost_and_budgets_hold(parts, budget, overlap, splitter, overlap_tokens):
    text = " ".join(parts)
    passages = split_passages(
        text, words, max_tokens=budget, overlap_sentences=overlap, splitter=splitter, overlap_tokens=overlap_tokens
    )
    assert all(text[p.start : p.end] == p.text for p in passages)
    covered = " ".join(p.text for p in passages).split()
    for word in text.split():
        assert word in covered
    for p in passages:
        # Only a passage made of a single over-long word may exceed the budget.
        assert len(p.text.split()) <= budget or len(p.text.split()) == 1
