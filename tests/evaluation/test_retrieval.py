from __future__ import annotations

import math

import pytest
import torch

from sensormoco.evaluation.retrieval import (
    chance_recall,
    cross_modal_recall,
    recall_at_k,
    retrieval_ranks,
)


def _at_degrees(*angles: float) -> torch.Tensor:
    return torch.tensor([[math.cos(math.radians(a)), math.sin(math.radians(a))] for a in angles])


def test_identical_embeddings_give_recall_one() -> None:
    embeddings = torch.randn(30, 8, generator=torch.Generator().manual_seed(0))
    assert recall_at_k(embeddings, embeddings, ks=(1, 5)) == {"r@1": 1.0, "r@5": 1.0}


def test_known_geometry_gives_known_ranks() -> None:
    # queries at 0, 90, 180 degrees; gallery at 60, 10, 160 degrees (cosine = cos of the angle):
    # query 0: own 60° (0.5) behind 10° (0.98)              -> rank 2
    # query 1: own 10° (cos 80°) behind 60° (cos 30°), 160° (cos 70°) -> rank 3
    # query 2: own 160° (cos 20°) is the closest            -> rank 1
    queries, gallery = _at_degrees(0, 90, 180), _at_degrees(60, 10, 160)
    assert retrieval_ranks(queries, gallery).tolist() == [2, 3, 1]
    recall = recall_at_k(queries * 3.0, gallery, ks=(1, 2, 3))  # scale does not matter
    assert recall == pytest.approx({"r@1": 1 / 3, "r@2": 2 / 3, "r@3": 1.0})


def test_permuted_gallery_recalls_only_fixed_points() -> None:
    # gallery rows 0 and 1 swapped: queries 0 and 1 find the other's item first, and their own
    # item ties (similarity 0) with the two remaining ones -> pessimistic rank 4
    queries = torch.eye(4)
    gallery = queries[[1, 0, 2, 3]]
    assert retrieval_ranks(queries, gallery).tolist() == [4, 4, 1, 1]
    assert recall_at_k(queries, gallery, ks=(1, 3, 4)) == {"r@1": 0.5, "r@3": 0.5, "r@4": 1.0}


def test_ties_rank_pessimistically() -> None:
    collapsed = torch.ones(5, 3)  # every similarity equal: each own item ranks last
    assert retrieval_ranks(collapsed, collapsed).tolist() == [5] * 5
    assert recall_at_k(collapsed, collapsed, ks=(1, 4, 5)) == {"r@1": 0.0, "r@4": 0.0, "r@5": 1.0}


def test_chunking_does_not_change_the_answer() -> None:
    generator = torch.Generator().manual_seed(3)
    queries = torch.randn(50, 8, generator=generator)
    gallery = queries + 0.8 * torch.randn(50, 8, generator=generator)
    unchunked = retrieval_ranks(queries, gallery, chunk_rows=1000)
    assert torch.equal(retrieval_ranks(queries, gallery, chunk_rows=7), unchunked)
    assert torch.equal(retrieval_ranks(queries, gallery, chunk_rows=1), unchunked)
    # reference with explicit loops
    q = torch.nn.functional.normalize(queries, dim=1)
    g = torch.nn.functional.normalize(gallery, dim=1)
    for i in range(50):
        scores = [float(q[i] @ g[j]) for j in range(50)]
        assert int(unchunked[i]) == 1 + sum(s > scores[i] for j, s in enumerate(scores) if j != i)


def test_cross_modal_recall_reports_both_directions() -> None:
    s1, s2 = _at_degrees(0, 90, 180), _at_degrees(60, 10, 160)
    result = cross_modal_recall(s1, s2, ks=(1, 3))
    assert set(result) == {"s1_to_s2_r@1", "s1_to_s2_r@3", "s2_to_s1_r@1", "s2_to_s1_r@3"}
    assert result["s1_to_s2_r@1"] == pytest.approx(1 / 3)
    # S2 queries at 60, 10, 160 against S1 at 0, 90, 180: own items rank 2, 2, 1
    assert result["s2_to_s1_r@1"] == pytest.approx(1 / 3)
    assert result["s2_to_s1_r@3"] == 1.0


def test_chance_recall() -> None:
    assert chance_recall(100, 5) == 0.05
    assert chance_recall(3, 10) == 1.0
    with pytest.raises(ValueError, match="n >= 1"):
        chance_recall(0, 1)


@pytest.mark.parametrize(
    ("queries", "gallery", "ks", "match"),
    [
        (torch.zeros(3, 4), torch.zeros(3, 5), (1,), "N x D"),
        (torch.zeros(0, 4), torch.zeros(0, 4), (1,), "N > 0"),
        (torch.ones(3, 4), torch.ones(3, 4), (), "positive integers"),
        (torch.ones(3, 4), torch.ones(3, 4), (0,), "positive integers"),
        (torch.full((2, 2), float("nan")), torch.ones(2, 2), (1,), "finite"),
    ],
)
def test_recall_rejects_bad_inputs(
    queries: torch.Tensor, gallery: torch.Tensor, ks: tuple[int, ...], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        recall_at_k(queries, gallery, ks)


def test_blocked_recall_equals_the_dense_matrix() -> None:
    """Recall@k in query blocks of any size equals the one computed from the full N x N
    similarity matrix, ties (duplicated gallery rows) included."""
    generator = torch.Generator().manual_seed(7)
    queries = torch.randn(40, 6, generator=generator)
    gallery = queries + 0.5 * torch.randn(40, 6, generator=generator)
    gallery[10:20] = gallery[0]  # ten identical gallery items: tied similarities
    q = torch.nn.functional.normalize(queries, dim=1)
    g = torch.nn.functional.normalize(gallery, dim=1)
    dense = q @ g.T  # N x N, the reference only
    ranks = (dense >= dense.diagonal().unsqueeze(1)).sum(dim=1)  # N
    expected = {f"r@{k}": float((ranks <= k).double().mean()) for k in (1, 5, 10)}
    for chunk in (1, 3, 16, 40, 1000):
        assert recall_at_k(queries, gallery, (1, 5, 10), chunk_rows=chunk) == expected
    both = cross_modal_recall(queries, gallery, (1, 5, 10), chunk_rows=3)
    assert {k[len("s1_to_s2_") :]: v for k, v in both.items() if k.startswith("s1_to_s2_")} == (
        expected
    )
