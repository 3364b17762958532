from __future__ import annotations

import pytest
import torch

from sensormoco.data.augment import PRESETS, Augmentation, BandMeanGrayscale


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("channels", [2, 10, 12, 13])
def test_presets_keep_bands_and_crop_to_size(preset: str, channels: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(4, channels, 48, 48)  # N x C x H x W
    y = Augmentation(preset, 32)(x)
    assert y.shape == (4, channels, 32, 32)
    assert torch.isfinite(y).all()


def test_no_clipping_of_standardised_values() -> None:
    torch.manual_seed(0)
    x = torch.randn(8, 10, 32, 32) * 3
    y = Augmentation("aug3", 32)(x)
    assert y.min() < -1
    assert y.max() > 2


@pytest.mark.parametrize("preset", ["none", "paper", "aug1", "aug3"])
def test_pair_shares_the_window(preset: str) -> None:
    """The same content in both views: with a shared window the geometric results match."""
    torch.manual_seed(1)
    x = torch.randn(6, 2, 40, 40)
    aug = Augmentation(preset, 24)
    aug.intensity = torch.nn.Sequential()  # compare geometry only (empty: identity)
    a, b = aug.pair(x, x.clone(), same_window=True)
    torch.testing.assert_close(a, b)
    a, b = aug.pair(x, x.clone(), same_window=False)
    assert not torch.allclose(a, b)


def test_band_mean_grayscale() -> None:
    x = torch.randn(3, 5, 8, 8)
    y = BandMeanGrayscale(p=1.0)(x)
    torch.testing.assert_close(y, x.mean(dim=1, keepdim=True).expand_as(x))


def test_unknown_preset() -> None:
    with pytest.raises(ValueError, match="unknown augmentation preset 'hue'"):
        Augmentation("hue", 32)


def test_band_mean_grayscale_is_per_sensor() -> None:
    """With sensor groups, each sensor's bands take the mean over that sensor's bands only."""
    x = torch.randn(3, 12, 8, 8)
    x[0, 10:] = 0  # S1 absent in row 0
    groups = (tuple(range(10)), (10, 11))
    y = BandMeanGrayscale(p=1.0)(x, groups=groups)
    torch.testing.assert_close(y[:, :10], x[:, :10].mean(dim=1, keepdim=True).expand(3, 10, 8, 8))
    torch.testing.assert_close(y[:, 10:], x[:, 10:].mean(dim=1, keepdim=True).expand(3, 2, 8, 8))
    assert torch.count_nonzero(y[0, 10:]) == 0
