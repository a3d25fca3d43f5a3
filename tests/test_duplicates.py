"""Near-duplicate grouping with MinHash, through the builder's own incremental grouping."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.pipeline.builder import build
from index.storage.docstore import generation_docstore
from index.storage.manifest import read_manifest
from index.text.duplicates import MAX_WORDS, NUM_PERM, signature, signature_from_bytes
from tests.conftest import HashingEncoder

REPO = Path(__file__).resolve().parent.parent

STORY = (
    "Russia and Iran signed an intergovernmental agreement on military cooperation on Tuesday in Tehran. "
    "Defense Minister Sergei Shoigu said the agreement creates a theoretical base for cooperation in the "
    "military sphere, and both sides agreed to expand port calls by their warships in the region."
)
OTHER = "Wheat prices fell in Kansas after a record harvest filled the grain silos across the plains this summer."


def _groups(tmp_path: Path, bodies: dict[str, str], order: list[str]) -> dict[str, str]:
    source = tmp_path / f"src-{'-'.join(order)}"
    source.mkdir()
    _write(source, {article_id: bodies[article_id] for article_id in order})
    index_dir = tmp_path / f"index-{'-'.join(order)}"
    build([source], index_dir, encoder=HashingEncoder())
    docs = generation_docstore(index_dir / read_manifest(index_dir).generation)
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


# Three texts where Z is a near-duplicate of X and of Y but X and Y are not of each other
# (estimated Jaccard 0.89 and 0.86 against 0.75, THRESHOLD 0.8): Z bridges two groups.
_WORDS = [f"term{i}" for i in range(400)]
X = " ".join(_WORDS[:18] + _WORDS[100:170])
Y = " ".join(_WORDS[100:170] + _WORDS[300:318])
Z = " ".join(_WORDS[:18] + _WORDS[100:170] + _WORDS[300:318])


def _write(source: Path, bodies: dict[str, str]) -> None:
    lines = [json.dumps({"id": article_id, "title": article_id, "body": body}) for article_id, body in bodies.items()]
    (source / "articles.jsonl").write_text("\n".join(lines) + "\n")


def _index_groups(index_dir: Path, ids: list[str]) -> dict[str, str]:
    docs = generation_docstore(index_dir / read_manifest(index_dir).generation)
    try:
        assert docs.count_articles() == len(ids)
        return docs.duplicate_groups(ids)
    finally:
        docs.close()


def test_updates_keep_the_groups_a_fresh_build_makes(tmp_path: Path) -> None:
    """Additions join groups (and bridge two), removals split them, a changed text moves: after
    every update the index holds the groups that building those articles from nothing gives."""
    steps = [
        ({"x": X, "y": Y, "o": OTHER}, [{"x"}, {"y"}, {"o"}]),
        ({"x": X, "y": Y, "o": OTHER, "z": Z}, [{"x", "y", "z"}, {"o"}]),
        ({"x": X, "y": Y, "o": OTHER, "z": Z, "x2": X}, [{"x", "x2", "y", "z"}, {"o"}]),
        ({"x": X, "y": Y, "o": OTHER, "x2": X}, [{"x", "x2"}, {"y"}, {"o"}]),
        ({"x": X, "y": X, "o": OTHER, "x2": X}, [{"x", "x2", "y"}, {"o"}]),
    ]
    source = tmp_path / "src"
    source.mkdir()
    for number, (bodies, expected) in enumerate(steps):
        _write(source, bodies)
        # commit_every=1: each article is a batch of its own, so groups also meet across batches.
        build([source], tmp_path / "index", encoder=HashingEncoder(), commit_every=1)
        fresh_source = tmp_path / f"fresh-src-{number}"
        fresh_source.mkdir()
        _write(fresh_source, bodies)
        build([fresh_source], tmp_path / f"fresh-{number}", encoder=HashingEncoder())
        updated = _index_groups(tmp_path / "index", sorted(bodies))
        fresh = _index_groups(tmp_path / f"fresh-{number}", sorted(bodies))
        assert updated == fresh, f"step {number}"
        found = {}
        for article_id, group in updated.items():
            found.setdefault(group, set()).add(article_id)
        assert sorted(map(sorted, found.values())) == sorted(map(sorted, expected)), f"step {number}"


def test_each_new_copy_is_compared_once_with_each_earlier_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The n-th copy of a text costs n - 1 similarity checks, not a walk over its whole group
    (n^2 checks: what made 100,000 articles of 50 copies a text spend 80% of the build grouping)."""
    import index.pipeline.duplicates as duplicates

    checks: list[int] = []
    original = duplicates.similar_enough

    def counting(a: np.ndarray, b: np.ndarray) -> bool:
        checks.append(1)
        return original(a, b)

    monkeypatch.setattr(duplicates, "similar_enough", counting)
    copies = 12
    source = tmp_path / "src"
    source.mkdir()
    _write(source, {f"copy{n:02d}": STORY for n in range(copies)})
    build([source], tmp_path / "index", encoder=HashingEncoder(), commit_every=1)
    assert len(checks) == copies * (copies - 1) // 2
    assert len(set(_index_groups(tmp_path / "index", [f"copy{n:02d}" for n in range(copies)]).values())) == 1


def _datasketch_signature(text: str) -> np.ndarray:
    """The signature as datasketch makes it: what every stored signature was made with."""
    from datasketch import MinHash

    words = [m.group() for m in re.finditer(r"\w+", text.lower())][:MAX_WORDS]
    shingles = {" ".join(words[i : i + 3]).encode() for i in range(max(len(words) - 2, 1))}
    minhash = MinHash(num_perm=NUM_PERM, scheme="affine32")
    minhash.update_batch(list(shingles))
    return minhash.hashvalues.astype(np.uint64)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcXYZ éßİ東 \n.,'-_0123456789")), max_size=300))
def test_signatures_equal_datasketchs_bit_for_bit(text: str) -> None:
    """An update compares new articles' signatures with those an older build stored, which
    datasketch made: computed without it, they must be the same numbers."""
    assert signature(text).tobytes() == _datasketch_signature(text).tobytes()


def test_signatures_of_real_sized_texts_equal_datasketchs() -> None:
    for text in (STORY, OTHER, X, Y, Z, STORY * 40, "", "one", "two words"):
        assert signature(text).tobytes() == _datasketch_signature(text).tobytes()


def test_a_signature_does_not_import_datasketch_or_scipy() -> None:
    """Importing datasketch imports scipy (its LSH classes): half a CPU-second per build."""
    code = (
        "import sys\n"
        "from index.text.duplicates import signature\n"
        "signature('Russia and Iran signed an agreement on military cooperation')\n"
        "print(sorted(m for m in ('datasketch', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
