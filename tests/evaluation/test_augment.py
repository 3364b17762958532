"""Fine-tuning's augmentation: geometric only, absent sensors stay exactly zero, seeded."""

from __future__ import annotations

import pytest
import torch

from sensormoco.evaluation.augment import SYMMETRIES, FinetuneAugment, crop_windows


def _fusion_batch(n: int = 16, size: int = 32) -> torch.Tensor:
    """Standardised 12-channel fusion inputs (10 S2 + 2 S1): rows 0-5 without S1, rows 6-11
    without S2, the rest with both. N x 12 x H x W."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 12, size, size, generator=g)
    x[:6, 10:] = 0.0
    x[6:12, :10] = 0.0
    return x


def test_absent_sensors_stay_exactly_zero_and_present_pixels_change() -> None:
    x = _fusion_batch()
    out = FinetuneAugment(seed=3)(x)
    assert out.shape == x.shape
    assert torch.all(out[:6, 10:] == 0.0)
    assert torch.all(out[6:12, :10] == 0.0)
    present = torch.cat([out[:6, :10].flatten(), out[6:12, 10:].flatten(), out[12:].flatten()])
    original = torch.cat([x[:6, :10].flatten(), x[6:12, 10:].flatten(), x[12:].flatten()])
    assert (present != original).float().mean() > 0.5  # the present sensors were transformed
    for row in range(len(x)):  # every row augmented, its present pixels not all zeroed
        assert not torch.equal(out[row], x[row])
        assert out[row].abs().sum() > 0


def test_same_seed_same_batches_and_global_state_untouched() -> None:
    x = _fusion_batch()
    a, b, c = FinetuneAugment(seed=1), FinetuneAugment(seed=1), FinetuneAugment(seed=2)
    torch.manual_seed(9)
    state = torch.random.get_rng_state()
    first = [a(x), a(x)]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first[0], b(x))
    assert torch.equal(first[1], b(x))
    assert not torch.equal(first[0], first[1])  # each batch draws anew
    assert not torch.equal(first[0], c(x))


def test_without_crop_each_sample_is_one_of_the_eight_symmetries_and_all_occur() -> None:
    image = torch.arange(64.0).view(1, 1, 8, 8)
    symmetric = [torch.rot90(image[0], k, (1, 2)) for k in range(4)]
    symmetric += [s.flip(2) for s in symmetric]  # every flip and rotation of the square
    out = FinetuneAugment(seed=0, scale=(1.0, 1.0), ratio=(1.0, 1.0))(image.repeat(200, 1, 1, 1))
    seen = set()
    for sample in out:
        matches = [i for i, s in enumerate(symmetric) if torch.allclose(sample, s, atol=1e-3)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(range(8))
    assert len(SYMMETRIES) == 8


def test_crop_windows_lie_inside_the_patch_with_the_area_share_asked_for() -> None:
    g = torch.Generator().manual_seed(0)
    half, centre = crop_windows(1000, (0.5, 1.0), (3 / 4, 4 / 3), g)  # N x 2 each
    assert torch.all(half <= 1.0)
    assert torch.all(centre.abs() + half <= 1.0 + 1e-6)
    area = half.prod(dim=1)  # share of the patch (normalised extents: 2 x half each side)
    assert float(area.min()) >= 0.5 * (3 / 4) ** 0.5 * 0.999  # clamped only at the patch edge
    assert float(area.max()) <= 1.0
    assert float(area.std()) > 0.05  # windows differ


def test_non_square_patches_are_refused() -> None:
    with pytest.raises(ValueError, match="square"):
        FinetuneAugment(seed=0)(torch.zeros(2, 3, 8, 6))
