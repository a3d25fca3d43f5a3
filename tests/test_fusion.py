"""Fusion: exact scores and orders for reciprocal rank and convex fusion."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.fusion import best_first, boost_by_coverage, convex_fusion, max_scaled, min_max, reciprocal_rank_fusion


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


def test_max_scaling_divides_by_the_best_and_counts_below_zero_as_zero():
    assert max_scaled([("a", 4.0), ("b", 2.0), ("c", 3.0)]) == {"a": 1.0, "b": 0.5, "c": 0.75}
    assert max_scaled([("a", 0.5), ("b", -0.25)]) == {"a": 1.0, "b": 0.0}
    assert max_scaled([("a", 0.0), ("b", -0.25)]) == {"a": 0.0, "b": 0.0}  # no scale to read them on
    assert max_scaled([]) == {}


def test_convex_weights_scaled_scores_and_missing_gets_zero():
    keyword = [("a", 10.0), ("b", 0.0)]
    semantic = [("b", 0.8), ("c", 0.4)]
    assert dict(convex_fusion(keyword, semantic, weight=0.25)) == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.375})
    assert dict(convex_fusion(keyword, semantic, weight=0.25, scale="min-max")) == pytest.approx({"a": 0.25, "b": 0.75, "c": 0.0})


# Runs best first, as the legs return them, with ties and below-zero scores.
_ranked_runs = st.lists(st.tuples(st.sampled_from("abcdefghij"), st.sampled_from([-0.5, 0.0, 0.25, 0.5, 1.0, 2.0])),
                        min_size=1, max_size=10, unique_by=lambda hit: hit[0]).map(best_first)


@settings(max_examples=300, deadline=None)
@given(_ranked_runs, st.integers(1, 10))
def test_max_scaling_gives_a_score_the_same_share_however_deep_the_run(run, depth):
    # What makes a first page of ten the first ten of a deeper search: a leg cut at any depth
    # scales the scores it kept exactly as the whole leg does. (Min-max scaling does not: its 0
    # is the lowest score fetched.)
    whole = max_scaled(run)
    assert max_scaled(run[:depth]) == {doc_id: whole[doc_id] for doc_id, _s in run[:depth]}


def test_convex_rejects_an_unknown_scale():
    with pytest.raises(ValueError, match="scale"):
        convex_fusion([("a", 1.0)], [], weight=0.3, scale="z-score")  # type: ignore[arg-type]


def test_convex_weight_one_is_keyword_order():
    keyword = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    semantic = [("c", 0.9), ("b", 0.5), ("a", 0.1)]
    assert [d for d, _ in convex_fusion(keyword, semantic, weight=1.0)] == ["a", "b", "c"]
    assert [d for d, _ in convex_fusion(keyword, semantic, weight=0.0)] == ["c", "b", "a"]


def test_convex_rejects_weight_outside_unit_range():
    with pytest.raises(ValueError):
        convex_fusion([], [], weight=1.5)


# Runs with many equal scores and ranks: the orders below must be exactly these keys' orders.
_runs = st.lists(st.tuples(st.sampled_from("abcdefghij"), st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.0])),
                 max_size=10, unique_by=lambda hit: hit[0])


@settings(max_examples=300, deadline=None)
@given(_runs, _runs, st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_fused_order_is_score_then_best_rank_then_id(keyword, semantic, weight):
    for fused in (convex_fusion(keyword, semantic, weight), reciprocal_rank_fusion([keyword, semantic])):
        best = {}
        for run in (keyword, semantic):
            for rank, (doc_id, _s) in enumerate(run, start=1):
                best[doc_id] = min(rank, best.get(doc_id, rank))
        assert fused == sorted(fused, key=lambda item: (-item[1], best[item[0]], item[0]))


@settings(max_examples=300, deadline=None)
@given(_runs)
def test_best_first_is_score_then_id(run):
    assert best_first(run) == sorted(run, key=lambda hit: (-hit[1], hit[0]))


@settings(max_examples=300, deadline=None)
@given(_runs, st.dictionaries(st.sampled_from("abcdefghij"), st.sampled_from([None, 0.0, 0.5, 1.0])))
def test_a_coverage_boost_keeps_the_runs_order_between_equal_scores(run, coverage):
    boosted = boost_by_coverage(run, coverage, 0.2)
    if not any(coverage.get(doc_id) for doc_id, _s in run):
        assert boosted == run
        return
    scores = [(doc_id, (score + 0.2 * (coverage.get(doc_id) or 0.0)) / 1.2) for doc_id, score in run]
    rank = {doc_id: i for i, (doc_id, _s) in enumerate(run)}
    assert boosted == sorted(scores, key=lambda item: (-item[1], rank[item[0]]))


# The definitions as first written, one Python step a document: the fusions' faster forms must
# return exactly these lists, scores bit for bit.
def _reference_min_max(run):
    if not run:
        return {}
    values = [score for _doc, score in run]
    low, high = min(values), max(values)
    if high == low:
        return {doc_id: 1.0 for doc_id, _score in run}
    return {doc_id: (score - low) / (high - low) for doc_id, score in run}


def _reference_ordered(scores, runs):
    best_rank = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            best_rank[doc_id] = min(rank, best_rank.get(doc_id, rank))
    ids = sorted(scores)
    ids.sort(key=best_rank.__getitem__)
    ids.sort(key=scores.__getitem__, reverse=True)
    return [(doc_id, scores[doc_id]) for doc_id in ids]


def _reference_max(run):
    if not run:
        return {}
    high = max(score for _doc, score in run)
    if high <= 0.0:
        return {doc_id: 0.0 for doc_id, _score in run}
    return {doc_id: score / high if score > 0.0 else 0.0 for doc_id, score in run}


def _reference_convex(keyword, semantic, weight, scale="max"):
    scaled = _reference_max if scale == "max" else _reference_min_max
    keyword_norm, semantic_norm = scaled(keyword), scaled(semantic)
    scores = {doc_id: weight * keyword_norm.get(doc_id, 0.0) + (1.0 - weight) * semantic_norm.get(doc_id, 0.0)
              for doc_id in {*keyword_norm, *semantic_norm}}
    return _reference_ordered(scores, (keyword, semantic))


def _reference_rrf(runs, k=60):
    scores = {}
    for run in runs:
        for rank, (doc_id, _score) in enumerate(run, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return _reference_ordered(scores, runs)


def _bits(run):
    return [(doc_id, score.hex()) for doc_id, score in run]


# Ids may repeat within a run, scores tie often (and -0.0 ties 0.0), weights are awkward floats.
_any_runs = st.lists(st.tuples(st.sampled_from("abcdefghijkl"),
                               st.sampled_from([0.0, -0.0, 0.1, 0.25, 1 / 3, 0.5, 1.0, 2.0, 7.25])), max_size=14)


@settings(max_examples=500, deadline=None)
@given(_any_runs, _any_runs, st.sampled_from([0.0, 0.1, 0.3, 1 / 3, 0.5, 0.7, 1.0]))
def test_fusions_return_their_definitions_bit_for_bit(keyword, semantic, weight):
    assert min_max(keyword) == _reference_min_max(keyword)
    assert list(min_max(keyword)) == list(_reference_min_max(keyword))
    assert max_scaled(keyword) == _reference_max(keyword)
    for scale in ("max", "min-max"):
        assert _bits(convex_fusion(keyword, semantic, weight, scale)) == _bits(_reference_convex(keyword, semantic, weight, scale))
    assert _bits(reciprocal_rank_fusion([keyword, semantic])) == _bits(_reference_rrf([keyword, semantic]))
    assert _bits(reciprocal_rank_fusion([semantic, keyword, keyword])) == _bits(_reference_rrf([semantic, keyword, keyword]))


def test_fusion_of_nan_scores_is_its_definition():
    nan = float("nan")
    keyword = [("a", 2.0), ("b", nan), ("c", 1.0), ("d", 1.0)]
    semantic = [("d", 0.5), ("e", nan), ("a", 0.5)]
    for weight in (0.0, 0.3, 1.0):
        for scale in ("max", "min-max"):
            assert _bits(convex_fusion(keyword, semantic, weight, scale)) == _bits(_reference_convex(keyword, semantic, weight, scale))
