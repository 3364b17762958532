"""SampleOptions and the standardisation of raw batches (data/samples.py)."""

from __future__ import annotations

import torch

from sensormoco.data.bands import S1_BANDS, SEN12MS_NORMALIZATION, resolve_bands
from sensormoco.data.samples import SampleOptions, standardize
from sensormoco.data.sources import SampleOptions as FromSources


def test_defaults_are_standardised_non_raw_samples_without_lc() -> None:
    options = SampleOptions()
    assert options.normalization == SEN12MS_NORMALIZATION
    assert (options.with_lc, options.raw, options.targets) == (False, False, None)
    assert FromSources is SampleOptions  # data/sources.py re-exports it


def test_standardize_is_the_normalisation_on_float32() -> None:
    s1 = SEN12MS_NORMALIZATION.select(("VV", "VH"))
    s2 = SEN12MS_NORMALIZATION.select(("B4", "B3", "B2"))
    batch = {
        "s1": torch.linspace(-25, 0, 2 * 2 * 4 * 4).reshape(2, 2, 4, 4),  # N x C1 x H x W
        "s2": torch.arange(2 * 3 * 4 * 4, dtype=torch.int16).reshape(2, 3, 4, 4) * 50,
        "index": torch.tensor([0, 1]),
    }
    out = standardize(batch, s1, s2)
    assert out["s2"].dtype == torch.float32
    assert torch.equal(out["index"], batch["index"])
    for key, norm in (("s1", s1), ("s2", s2)):
        expected = torch.stack([norm.apply(x.float()) for x in batch[key]])
        torch.testing.assert_close(out[key], expected, rtol=0, atol=1e-6)


def test_a_standardised_batch_shares_no_memory_with_the_raw_one() -> None:
    raw = {
        "s1": torch.zeros(2, 2, 4, 4),
        "s2": torch.zeros(2, 10, 4, 4, dtype=torch.int16),
        "index": torch.tensor([3, 5]),
    }
    land = resolve_bands("s2", "s2-land")
    out = standardize(raw, *(SEN12MS_NORMALIZATION.select(b) for b in (S1_BANDS, land)))
    for key in raw:
        assert out[key].untyped_storage().data_ptr() != raw[key].untyped_storage().data_ptr()
    raw["index"].fill_(0)  # the raw batch's buffers reused
    assert out["index"].tolist() == [3, 5]
