"""Passage splitting: budgets hold, no text is dropped, overlap works."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.text.passages import sentence_spans, split_passages


def words(texts):
    return [len(t.split()) for t in texts]


def test_sentence_spans_exclude_whitespace():
    text = "One two. Three four!  Five?\n\nSix"
    assert [text[s:e] for s, e in sentence_spans(text)] == ["One two.", "Three four!", "Five?", "Six"]


def test_sentences_are_packed_under_the_budget():
    text = "a b c. d e f. g h i. j k l."
    passages = split_passages(text, words, max_tokens=6)
    assert [p.text for p in passages] == ["a b c. d e f.", "g h i. j k l."]
    assert all(text[p.start : p.end] == p.text for p in passages)


def test_overlap_repeats_the_last_sentence():
    text = "a b c. d e f. g h i."
    passages = split_passages(text, words, max_tokens=6, overlap_sentences=1)
    assert [p.text for p in passages] == ["a b c. d e f.", "d e f. g h i."]


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
    st.lists(st.text(alphabet="abc .!?\n", min_size=0, max_size=40), min_size=0, max_size=8),
    st.integers(min_value=1, max_value=12),
    st.integers(min_value=0, max_value=2),
)
def test_no_word_is_lost_and_budgets_hold(parts, budget, overlap):
    text = " ".join(parts)
    passages = split_passages(text, words, max_tokens=budget, overlap_sentences=overlap)
    covered = " ".join(p.text for p in passages).split()
    for word in text.split():
        assert word in covered
    for p in passages:
        # Only a passage made of a single over-long word may exceed the budget.
        assert len(p.text.split()) <= budget or len(p.text.split()) == 1
