"""Fusion: exact scores and orders for reciprocal rank and convex fusion."""

from __future__ import annotations

import pytest

from search.fusion import convex_fusion, min_max, reciprocal_rank_fusion


def test_rrf_sums_reciprocal_ranks_with_k_60():
    fused = dict(reciprocal_rank_fusion([[("a", 9.0), ("b", 5.0)], [("b", 0.9), ("c", 0.1)]]))
    assert fused["b"] == pytest.approx(1 / 62 + 1 / 61)
    assert fused["a"] == pytest.approx(1 / 61)
    assert fused["c"] == pytest.approx(1 / 62)


def test_rrf_orders_documents_in_both_runs_first():
    fused = reciprocal_rank_fusion([[("a", 9.0), ("b", 5.0)], [("b", 0.9), ("c", 0.1)]])
    assert [doc for doc, _ in fused] == ["b", "a", "c"]


def test_rrf_ties_break_by_best_rank_then_id():
    fused = reciprocal_rank_fusion([[("x", 1.0), ("y", 0.5)], [("y", 1.0), ("x", 0.5)]])
    assert fused[0][1] == fused[1][1]
    assert [doc for doc, _ in fused] == ["x", "y"]


def test_rrf_rejects_negative_k():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[("a", 1.0)]], k=-1)


def test_min_max_scales_to_unit_range_and_equal_scores_to_one():
    assert min_max([("a", 4.0), ("b", 2.0), ("c", 3.0)]) == {"a": 1.0, "b": 0.0, "c": 0.5}
    assert min_max([("a", 0.3), ("b", 0.3)]) == {"a": 1.0, "b": 1.0}
    assert min_max([]) == {}


def test_convex_weights_normalised_scores_and_missing_gets_zero():
    keyword = [("a", 10.0), ("b", 0.0)]
    semantic = [("b", 0.8), ("c", 0.4)]
    fused = dict(convex_fusion(keyword, semantic, weight=0.25))
    assert fused == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.0})


def test_convex_weight_one_is_keyword_order():
    keyword = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    semantic = [("c", 0.9), ("b", 0.5), ("a", 0.1)]
    assert [d for d, _ in convex_fusion(keyword, semantic, weight=1.0)] == ["a", "b", "c"]
    assert [d for d, _ in convex_fusion(keyword, semantic, weight=0.0)] == ["c", "b", "a"]


def test_convex_rejects_weight_outside_unit_range():
    with pytest.raises(ValueError):
        convex_fusion([], [], weight=1.5)
