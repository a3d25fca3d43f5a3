"""Near-duplicate grouping with MinHash."""

from __future__ import annotations

from index.text.duplicates import groups, signature, signature_from_bytes

STORY = (
    "Russia and Iran signed an intergovernmental agreement on military cooperation on Tuesday in Tehran. "
    "Defense Minister Sergei Shoigu said the agreement creates a theoretical base for cooperation in the "
    "military sphere, and both sides agreed to expand port calls by their warships in the region."
)


def test_light_edits_and_syndication_stay_in_one_group():
    edited = STORY.replace("on Tuesday", "on Tuesday,").upper()  # punctuation and case do not count
    reworded = STORY.replace("in the region", "in the Caspian region")
    other = "Wheat prices fell in Kansas after a record harvest filled the grain silos across the plains this summer."
    found = groups({"a": signature(STORY), "b": signature(edited), "c": signature(reworded), "d": signature(other)})
    assert found == {"a": "a", "b": "a", "c": "a", "d": "d"}


def test_groups_do_not_depend_on_insertion_order():
    sigs = {"z": signature(STORY), "m": signature(STORY + " Officials confirmed it."), "a": signature("Unrelated text here.")}
    assert groups(sigs) == groups(dict(reversed(list(sigs.items())))) == {"z": "m", "m": "m", "a": "a"}


def test_signatures_round_trip_through_bytes():
    sig = signature(STORY)
    assert (signature_from_bytes(sig.tobytes()) == sig).all()
