"""k-nearest-neighbour classification on frozen features (cosine similarity, weighted votes).

Each test item takes its ``k`` most similar training items; a neighbour's vote is weighted by
``exp(similarity / T)`` (as in InstDisc and the MoCo/DINO kNN monitors). Scores per class are
the normalised sum of votes, so they lie in [0, 1]: the arg-max is the single-label prediction,
and for multi-label targets a class's score is the weighted share of neighbours that carry it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sensormoco import defaults


def knn_scores(
    train_features: Tensor,
    train_targets: Tensor,
    test_features: Tensor,
    num_classes: int,
    k: int = defaults.KNN_K,
    temperature: float = defaults.KNN_TEMPERATURE,
    chunk_rows: int = 1024,
) -> Tensor:
    """Class scores (M x K) of M test items from N training items: ``train_targets`` are class
    indices (N,) or multi-hot rows (N x K)."""
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError("features must be N x F and M x F")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"feature widths differ: {train_features.shape[1]} and {test_features.shape[1]}"
        )
    if k < 1 or temperature <= 0:
        raise ValueError(f"k must be >= 1 and temperature > 0, got {k} and {temperature}")
    onehot = (
        F.one_hot(train_targets.long(), num_classes).float()
        if train_targets.ndim == 1
        else train_targets.float()
    )  # N x K
    if onehot.shape != (train_features.shape[0], num_classes):
        raise ValueError(
            f"targets {tuple(train_targets.shape)} do not fit "
            f"{train_features.shape[0]} items of {num_classes} classes"
        )
    k = min(k, train_features.shape[0])
    train = F.normalize(train_features.float(), dim=1)  # N x F
    out = []
    for part in torch.split(F.normalize(test_features.float(), dim=1), chunk_rows):
        similarity, idx = (part @ train.T).topk(k, dim=1)  # m x k each
        weights = (similarity / temperature).exp()  # m x k
        votes = (weights.unsqueeze(-1) * onehot[idx]).sum(dim=1)  # m x K
        out.append(votes / weights.sum(dim=1, keepdim=True))
    return torch.cat(out)  # M x K
