"""The result types that a ranking makes by the hundred write their fields themselves
(search/results.py): they must stay what their dataclass declares, frozen, equal by value,
hashable, and copy, pickle and convert as any frozen dataclass."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest

from search.results import Candidate, LegScore


@pytest.mark.parametrize(
    "value",
    [LegScore(3, 0.25), Candidate("a1", 0.5, LegScore(1, 7.5), None), Candidate("a2", 1.0, None, LegScore(2, 0.8))],
)
def test_hand_written_inits_make_the_declared_dataclass(value) -> None:
    names = [f.name for f in dataclasses.fields(value)]
    assert list(vars(value)) == names  # every field, in order, and nothing else
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, names[0], None)
    twin = type(value)(*(getattr(value, name) for name in names))
    assert twin == value and hash(twin) == hash(value) and repr(twin) == repr(value)
    assert pickle.loads(pickle.dumps(value)) == value and copy.deepcopy(value) == value
    assert dataclasses.replace(value) == value
    assert list(dataclasses.asdict(value)) == names


def test_the_inits_take_the_fields_by_name() -> None:
    assert LegScore(score=0.5, rank=2) == LegScore(2, 0.5)
    assert Candidate(semantic=None, keyword=LegScore(1, 2.0), score=0.3, id="x") == Candidate("x", 0.3, LegScore(1, 2.0), None)
    with pytest.raises(TypeError):
        LegScore(1)  # type: ignore[call-arg]
