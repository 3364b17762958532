"""The linear probe's head standardises features (batch norm without affine parameters)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sensormoco.evaluation.classify import Classifier, FitConfig, Fitting, ProbeHead, fit_tensors
from sensormoco.evaluation.variants import load_variant


def _accuracy(s: torch.Tensor, y: torch.Tensor) -> float:
    return float((s.argmax(1) == y).float().mean())


def _features(n: int = 60, f: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3  # N
    x = torch.randn(n, f, generator=g) + torch.nn.functional.one_hot(y, f).float()  # N x F
    return x, y


def test_probe_head_is_batch_norm_without_affine_then_linear() -> None:
    features = load_variant("supervised", "s1", "resnet18").features
    head = Classifier(features, 3, frozen=True).head
    assert isinstance(head, ProbeHead)
    assert isinstance(head.norm, nn.BatchNorm1d)
    assert not head.norm.affine
    assert list(head.norm.parameters()) == []
    assert head.norm.num_features == features.num_features == head.linear.in_features
    trained = {name for name, p in head.named_parameters() if p.requires_grad}
    assert trained == {"linear.weight", "linear.bias"}
    # fine-tuning keeps a plain linear head
    assert isinstance(Classifier(features, 3, frozen=False).head, nn.Linear)


def test_probe_head_fit_does_not_depend_on_the_feature_scale() -> None:
    x, y = _features()
    weights = []
    for scale, shift in ((1.0, 0.0), (1000.0, 5.0)):
        torch.manual_seed(0)
        head = ProbeHead(8, 3)
        config = FitConfig(epochs=3, batch_size=16, lr=0.1)
        x_train, x_val = x[:45] * scale + shift, x[45:] * scale + shift
        fit_tensors(head, x_train, y[:45], x_val, y[45:], Fitting(config, _accuracy))
        weights.append(head.linear.weight.detach().clone())
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-3, atol=1e-4)


def test_probe_head_trains_on_a_last_batch_of_one_sample() -> None:
    x, y = _features(17)
    head = ProbeHead(8, 3)
    result = fit_tensors(head, x, y, x, y, Fitting(FitConfig(epochs=2, batch_size=16), _accuracy))
    assert result.best_epoch in (1, 2)
    head.train()
    assert head(x[:1]).shape == (1, 3)
    assert head(x[:4]).shape == (4, 3)
    assert head.norm.running_mean is not None
    assert float(head.norm.running_mean.abs().sum()) > 0  # statistics were tracked


def test_fit_refuses_augmenting_a_frozen_probe() -> None:
    from sensormoco.evaluation.classify import fit

    classifier = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, True)
    x, y = torch.zeros(4, 2, 16, 16), torch.zeros(4, dtype=torch.long)
    fitting = Fitting(FitConfig(epochs=1), _accuracy, augment=lambda t: t)
    with pytest.raises(ValueError, match="no augment"):
        fit(classifier, x, y, x, y, fitting)
