"""The classifier: the linear probe leaves the backbone untouched; fine-tuning trains it."""

from __future__ import annotations

import pytest
import torch

from sensormoco.evaluation.classify import Classifier, FitConfig, Fitting, ProbeHead, fit, predict
from sensormoco.evaluation.variants import load_variant


def _data(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3  # N
    x = torch.randn(n, 2, 16, 16, generator=g) + y.view(-1, 1, 1, 1).float()  # N x 2 x 16 x 16
    return x, y


def _accuracy(s: torch.Tensor, y: torch.Tensor) -> float:
    return float((s.argmax(1) == y).float().mean())


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_linear_probe_leaves_weights_and_bn_statistics_unchanged() -> None:
    features = load_variant("supervised", "s1", "resnet18").features
    before = _state(features)
    classifier = Classifier(features, 3, frozen=True)
    classifier.train()
    assert not classifier.features.training
    assert classifier.head.training
    x, y = _data()
    classifier(x)  # a training-mode forward must not touch BN running statistics
    fitting = Fitting(FitConfig(epochs=3, batch_size=8), _accuracy)
    result = fit(classifier, x[:36], y[:36], x[36:], y[36:], fitting)
    after = features.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(not p.requires_grad for p in features.parameters())
    assert len(result.history) == 3


@pytest.mark.slow
def test_finetune_trains_the_backbone_and_keeps_the_best_epoch() -> None:
    features = load_variant("supervised", "s1", "resnet18").features
    before = _state(features)
    classifier = Classifier(features, 3, frozen=False)
    x, y = _data()
    config = FitConfig(epochs=4, batch_size=8, lr=0.01)
    result = fit(classifier, x[:36], y[:36], x[36:], y[36:], Fitting(config, _accuracy))
    after = features.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert result.best_score == max(result.history)
    assert result.history[result.best_epoch - 1] == result.best_score
    # the classifier is left at its best epoch
    assert _accuracy(predict(classifier, x[36:], 8).softmax(1), y[36:]) == pytest.approx(
        result.best_score
    )


def test_fit_is_deterministic_for_a_seed() -> None:
    x, y = _data()
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        classifier = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, True)
        fitting = Fitting(FitConfig(epochs=2, seed=5), _accuracy)
        fit(classifier, x[:36], y[:36], x[36:], y[36:], fitting)
        assert isinstance(classifier.head, ProbeHead)  # was nn.Linear: now BN, then linear
        runs.append(classifier.head.linear.weight.detach().clone())
    assert torch.equal(runs[0], runs[1])
