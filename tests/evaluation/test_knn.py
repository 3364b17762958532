"""kNN scores on hand-made features."""

from __future__ import annotations

import math

import pytest
import torch

from sensormoco.evaluation.knn import knn_scores


def test_single_label_votes_are_similarity_weighted() -> None:
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    test = torch.tensor([[1.0, 0.1]])
    s = knn_scores(train, labels, test, 2, k=2, temperature=1.0)
    # neighbours: item 0 (cos 0.995) and item 2 (cos 0.7741)
    w0, w2 = math.exp(1 / math.sqrt(1.01)), math.exp(1.1 / math.sqrt(2.02))
    assert s[0].tolist() == pytest.approx([w0 / (w0 + w2), w2 / (w0 + w2)], rel=1e-5)


def test_multi_label_scores_are_weighted_label_shares() -> None:
    train = torch.eye(3)
    targets = torch.tensor([[1, 0], [1, 1], [0, 1]])
    s = knn_scores(train, targets, torch.eye(3), 2, k=1)
    assert torch.equal(s, targets.float())
    with pytest.raises(ValueError, match="do not fit"):
        knn_scores(train, targets, torch.eye(3), 3)
