"""Fine-tuning over a DataLoader is the in-memory fit, batch for batch; loaders leave torch's
global random state alone."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sensormoco.data.bands import S1_BANDS
from sensormoco.evaluation.classify import (
    Classifier,
    FitConfig,
    FitResult,
    Fitting,
    fit,
    predict,
    scores,
)
from sensormoco.evaluation.finetune import fine_tune, predict_scores
from sensormoco.evaluation.loader import EpochBatches, LoaderSettings, loader
from sensormoco.evaluation.samples import LabelledSamples
from sensormoco.evaluation.variants import load_variant


class Patches(Dataset[dict[str, Tensor]]):
    """S1-only samples of an in-memory stack (a stand-in for a dataset read from files)."""

    def __init__(self, s1: Tensor) -> None:
        self.s1 = s1  # N x 2 x H x W

    def __len__(self) -> int:
        return len(self.s1)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"s1": self.s1[index], "s2": torch.zeros(10, *self.s1.shape[2:])}


def _data(n: int = 40) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3  # N
    x = torch.randn(n, 2, 16, 16, generator=g) + y.view(-1, 1, 1, 1).float()  # N x 2 x 16 x 16
    return x, y


def _accuracy(s: Tensor, y: Tensor) -> float:
    return float((s.argmax(1) == y).float().mean())


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_fine_tuning_equals_the_in_memory_fit(workers: int) -> None:
    x, y = _data(24)
    fitting = Fitting(FitConfig(epochs=2, batch_size=8, lr=0.01, seed=4), _accuracy)
    torch.manual_seed(0)
    reference = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, False)
    expected = fit(reference, x[:16], y[:16], x[16:], y[16:], fitting)
    torch.manual_seed(0)
    streamed = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, False)
    train = LabelledSamples(Patches(x), range(16), y[:16])
    val = LabelledSamples(Patches(x), range(16, 24), y[16:])
    settings = LoaderSettings(batch_size=8, workers=workers)
    result = fine_tune(streamed, train, val, y[16:], "s1", fitting, settings)
    assert result == expected
    after, before = streamed.state_dict(), reference.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before)
    predicted = predict_scores(streamed, val, ["s1"], S1_BANDS, settings, "single")["s1"]
    assert torch.equal(predicted, scores(predict(reference, x[16:], 8), "single"))


def test_epoch_batches_draw_a_new_order_each_pass() -> None:
    batches = EpochBatches(10, 4, seed=1)
    first, second = list(batches), list(batches)
    assert [len(b) for b in first] == [4, 4, 2]
    assert len(batches) == 3
    assert sorted(i for b in first for i in b) == list(range(10))
    assert first != second
    generator = torch.Generator().manual_seed(1)
    assert first == [p.tolist() for p in torch.split(torch.randperm(10, generator=generator), 4)]


def test_iterating_a_loader_leaves_the_global_random_state_alone() -> None:
    x, y = _data(12)
    torch.manual_seed(3)
    state = torch.random.get_rng_state()
    for batch in loader(LabelledSamples(Patches(x), range(12), y), LoaderSettings(batch_size=5)):
        assert len(batch["s1"]) in (5, 2)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_augmented_fine_tuning_is_deterministic_streamed_or_in_memory() -> None:
    from sensormoco.evaluation.augment import FinetuneAugment

    x, y = _data(24)
    config = FitConfig(epochs=1, batch_size=8, lr=0.01, seed=4)
    results: list[FitResult] = []
    weights: list[dict[str, Tensor]] = []
    for streamed in (False, True):  # two fits, each with its own augmentation of seed 4
        torch.manual_seed(0)
        net = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, False)
        fitting = Fitting(config, _accuracy, FinetuneAugment(seed=4))
        if streamed:
            train = LabelledSamples(Patches(x), range(16), y[:16])
            val = LabelledSamples(Patches(x), range(16, 24), y[16:])
            settings = LoaderSettings(batch_size=8)
            results.append(fine_tune(net, train, val, y[16:], "s1", fitting, settings))
        else:
            results.append(fit(net, x[:16], y[:16], x[16:], y[16:], fitting))
        weights.append({k: v.clone() for k, v in net.state_dict().items()})
    assert results[0] == results[1]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    torch.manual_seed(0)
    plain = Classifier(load_variant("supervised", "s1", "resnet18").features, 3, False)
    fit(plain, x[:16], y[:16], x[16:], y[16:], Fitting(config, _accuracy))  # no augmentation
    assert any(not torch.equal(v, weights[0][k]) for k, v in plain.state_dict().items())
