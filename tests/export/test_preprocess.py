"""Raw arrays -> encoder input: the same values the training data gives, for any layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, S2_LAND_BANDS, SEN12MS_NORMALIZATION
from sensormoco.data.geotiff import read_raster
from sensormoco.data.sen12ms.dataset import SEN12MSDataset
from sensormoco.data.sen12ms.index import build_index
from sensormoco.export import Preprocessing
from sensormoco.models.adapters import to_fusion_layout

FUSION = Preprocessing(FUSION_BANDS, SEN12MS_NORMALIZATION.select(FUSION_BANDS))


def _raw_triplet(tmp_path: Path, make_triplet) -> tuple[Path, np.ndarray, np.ndarray]:
    """A GeoTIFF triplet with NaN and out-of-range values; returns root, raw S1, raw S2."""
    rng = np.random.default_rng(1)
    s1 = rng.uniform(-40, 5, (2, 16, 16)).astype(np.float32)  # beyond [-25, 0] dB
    s1[0, 2, 3] = np.nan
    s2 = rng.integers(0, 20000, (13, 16, 16)).astype(np.uint16)  # beyond 10000
    pid = make_triplet(tmp_path, s1=s1, s2=s2)
    raw_s1, _ = read_raster(tmp_path / pid.relpath("s1"))
    raw_s2, _ = read_raster(tmp_path / pid.relpath("s2"))
    return tmp_path, raw_s1, raw_s2


def test_equals_the_training_datasets_input(tmp_path: Path, make_triplet) -> None:
    root, raw_s1, raw_s2 = _raw_triplet(tmp_path, make_triplet)
    sample = SEN12MSDataset(root, build_index(root).usable)[0]  # normalised, clipped
    expected = to_fusion_layout(sample["s2"], sample["s1"])  # 12 x H x W
    x = FUSION({"s1": raw_s1, "s2": raw_s2})  # the full 13-band S2 GeoTIFF, by name
    assert x.dtype == torch.float32
    assert torch.equal(x, expected)
    batch = FUSION({"s1": torch.from_numpy(raw_s1[None]), "s2": torch.from_numpy(raw_s2[None])})
    assert torch.equal(batch, expected[None])  # N x C x H x W from torch tensors


def test_missing_sensor_is_exactly_zero(tmp_path: Path, make_triplet) -> None:
    _, raw_s1, raw_s2 = _raw_triplet(tmp_path, make_triplet)
    full = FUSION({"s1": raw_s1, "s2": raw_s2})
    s2_only = FUSION({"s2": raw_s2, "s1": None})
    s1_slots = [FUSION_BANDS.index(b) for b in S1_BANDS]
    assert torch.count_nonzero(s2_only[s1_slots]) == 0
    assert torch.equal(s2_only[:10], full[:10])
    s1_only = FUSION({"s1": raw_s1})
    assert torch.count_nonzero(s1_only[:10]) == 0
    assert torch.equal(s1_only[s1_slots], full[s1_slots])


def test_channels_are_chosen_by_name(tmp_path: Path, make_triplet) -> None:
    _, raw_s1, raw_s2 = _raw_triplet(tmp_path, make_triplet)
    full = FUSION({"s1": raw_s1, "s2": raw_s2})
    land = raw_s2[[1, 2, 3, 4, 5, 6, 7, 8, 11, 12]]  # exactly the encoder's S2 bands
    assert torch.equal(FUSION({"s1": raw_s1, "s2": land}), full)
    reordered = land[::-1].copy()
    named = FUSION({"s1": raw_s1[::-1].copy(), "s2": reordered},
                   bands={"s2": S2_LAND_BANDS[::-1], "s1": ("VH", "VV")})  # fmt: skip
    assert torch.equal(named, full)
    s2_only = Preprocessing(S2_LAND_BANDS, SEN12MS_NORMALIZATION.select(S2_LAND_BANDS))
    assert torch.equal(s2_only({"s2": raw_s2}), full[:10])


def test_bad_input_is_a_one_line_error() -> None:
    s2 = np.zeros((13, 8, 8), np.uint16)
    with pytest.raises(ValueError, match=r"s2 array has 4 channels: pass bands="):
        FUSION({"s2": s2[:4]})
    with pytest.raises(ValueError, match=r"lacks band\(s\) \['B8A', 'B11', 'B12'\]"):
        FUSION({"s2": s2[:9]}, bands={"s2": (*S2_LAND_BANDS[:-3], "B1", "B9")})
    with pytest.raises(ValueError, match="takes no s1 bands"):
        Preprocessing(S2_LAND_BANDS, SEN12MS_NORMALIZATION.select(S2_LAND_BANDS))(
            {"s2": s2, "s1": np.zeros((2, 8, 8), np.float32)}
        )
    with pytest.raises(ValueError, match="of one size"):
        FUSION({"s2": s2, "s1": np.zeros((2, 4, 4), np.float32)})
    with pytest.raises(ValueError, match="unknown sensor"):
        FUSION({"s3": s2})
    with pytest.raises(ValueError, match="at least one"):
        FUSION({})
