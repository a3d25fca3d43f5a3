"""Near-duplicate grouping with MinHash, through the builder's own incremental grouping."""

from __future__ import annotations

import json
from pathlib import Path

from index.pipeline.builder import build
from index.storage.docstore import DocStore
from index.storage.manifest import read_manifest
from index.text.duplicates import signature, signature_from_bytes
from tests.conftest import HashingEncoder

STORY = (
    "Russia and Iran signed an intergovernmental agreement on military cooperation on Tuesday in Tehran. "
    "Defense Minister Sergei Shoigu said the agreement creates a theoretical base for cooperation in the "
    "military sphere, and both sides agreed to expand port calls by their warships in the region."
)
OTHER = "Wheat prices fell in Kansas after a record harvest filled the grain silos across the plains this summer."


def _groups(tmp_path: Path, bodies: dict[str, str], order: list[str]) -> dict[str, str]:
    source = tmp_path / f"src-{'-'.join(order)}"
    source.mkdir()
    lines = [json.dumps({"id": article_id, "title": article_id, "body": bodies[article_id]}) for article_id in order]
    (source / "articles.jsonl").write_text("\n".join(lines) + "\n")
    index_dir = tmp_path / f"index-{'-'.join(order)}"
    build([source], index_dir, encoder=HashingEncoder())
    docs = DocStore(index_dir / read_manifest(index_dir).generation / "articles.sqlite")
    try:
        return docs.duplicate_groups(sorted(bodies))
    finally:
        docs.close()


def test_light_edits_and_syndication_stay_in_one_group(tmp_path: Path) -> None:
    bodies = {
        "a": STORY,
        "b": STORY.replace("on Tuesday", "on Tuesday,").upper(),  # punctuation and case do not count
        "c": STORY.replace("in the region", "in the Caspian region"),
        "d": OTHER,
    }
    found = _groups(tmp_path, bodies, ["a", "b", "c", "d"])
    assert found["a"] == found["b"] == found["c"] != found["d"]


def test_groups_do_not_depend_on_the_order_articles_arrive_in(tmp_path: Path) -> None:
    bodies = {"z": STORY, "m": STORY + " Officials confirmed it.", "a": "Unrelated text here, nothing alike."}
    forward = _groups(tmp_path, bodies, ["z", "m", "a"])
    backward = _groups(tmp_path, bodies, ["a", "m", "z"])
    assert forward == backward
    assert forward["z"] == forward["m"] != forward["a"]


def test_signatures_round_trip_through_bytes() -> None:
    sig = signature(STORY)
    assert (signature_from_bytes(sig.tobytes()) == sig).all()
