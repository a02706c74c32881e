"""Reciprocal rank fusion on hand-made rankings: the pure function the hybrid retriever fuses with."""

from __future__ import annotations

import pytest

from rag.retrieve import RRF_K, reciprocal_rank_fusion


def test_an_id_ranked_well_by_both_beats_one_ranked_first_by_one() -> None:
    dense = ["a", "b", "c"]
    bm25 = ["d", "b", "e"]
    fused = reciprocal_rank_fusion([dense, bm25])
    # b: second in both; a and d: first in one (a tie, a seen first); c and e: third in one.
    assert [item for item, _ in fused] == ["b", "a", "d", "c", "e"]
    scores = dict(fused)
    assert scores["b"] == pytest.approx(2 / (RRF_K + 2))
    assert scores["a"] == scores["d"] == pytest.approx(1 / (RRF_K + 1))
    assert scores["c"] == scores["e"] == pytest.approx(1 / (RRF_K + 3))


def test_ties_keep_the_order_ids_were_first_seen() -> None:
    # "x" and "y" are both first in one ranking: equal scores, dense's first comes first.
    assert [item for item, _ in reciprocal_rank_fusion([["x"], ["y"]])] == ["x", "y"]
    assert [item for item, _ in reciprocal_rank_fusion([["y"], ["x"]])] == ["y", "x"]


def test_one_ranking_is_kept_as_it_is_and_empty_rankings_add_nothing() -> None:
    assert [item for item, _ in reciprocal_rank_fusion([["c", "a", "b"], []])] == ["c", "a", "b"]
    assert reciprocal_rank_fusion([[], []]) == []
    assert reciprocal_rank_fusion([]) == []


def test_the_constant_damps_the_first_ranks() -> None:
    # With k = 0, first place in one ranking (1/1) outweighs third place in both (1/3 + 1/3); with the
    # usual k = 60, third in both (2/63) outweighs first in one (1/61).
    rankings = [["solo", "p", "both"], ["q", "r", "both"]]
    assert reciprocal_rank_fusion(rankings, k=0)[0][0] == "solo"
    assert reciprocal_rank_fusion(rankings)[0][0] == "both"
