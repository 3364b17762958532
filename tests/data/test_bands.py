from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sensormoco.data.bands import (
    SEN12MS_NORMALIZATION,
    Normalization,
    band_indices,
    resolve_bands,
)
from sensormoco.errors import DataError


def test_band_sets_and_indices() -> None:
    assert resolve_bands("s2", "s2-land") == (
        "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12",
    )  # fmt: skip
    assert band_indices("s2", "s2-land") == (2, 3, 4, 5, 6, 7, 8, 9, 12, 13)
    assert band_indices("s2", ["B4", "B3", "B2"]) == (4, 3, 2)
    assert band_indices("s1", "s1") == (1, 2)


def test_unknown_or_duplicate_bands_are_refused() -> None:
    with pytest.raises(ValueError, match=r"s2 has no band\(s\) \['B13'\]"):
        resolve_bands("s2", ["B2", "B13"])
    with pytest.raises(ValueError, match="duplicate"):
        resolve_bands("s1", ["VV", "VV"])
    with pytest.raises(ValueError, match="s1 has no band"):
        resolve_bands("s1", "s2-land")


def test_shipped_statistics_cover_land_bands_only() -> None:
    norm = SEN12MS_NORMALIZATION.select(["VV", "B12"])
    assert norm.mean == (-11.76858, 1356.0801)
    with pytest.raises(ValueError, match=r"no statistics for band\(s\) \['B1'\]"):
        SEN12MS_NORMALIZATION.select(["B1"])


def test_apply_standardises_per_band() -> None:
    norm = Normalization(("a", "b"), (1.0, -2.0), (2.0, 4.0))
    x = torch.tensor([1.0, 5.0, -2.0, 6.0]).view(2, 1, 2)  # C x H x W
    assert norm.apply(x).flatten().tolist() == [0.0, 2.0, 0.0, 2.0]
    assert norm.apply(x.unsqueeze(0)).shape == (1, 2, 1, 2)
    with pytest.raises(ValueError, match="expected 2 channels"):
        norm.apply(torch.zeros(3, 1, 1))


def test_save_load_round_trip_and_errors(tmp_path: Path) -> None:
    SEN12MS_NORMALIZATION.save(tmp_path / "s.json")
    assert Normalization.load(tmp_path / "s.json") == SEN12MS_NORMALIZATION
    (tmp_path / "bad.json").write_text('{"VV": {"mean": 1}}')
    with pytest.raises(DataError, match=r"bad\.json: not a band statistics mapping"):
        Normalization.load(tmp_path / "bad.json")
    (tmp_path / "neg.json").write_text('{"VV": {"mean": 1, "std": -1}}')
    with pytest.raises(DataError, match="std must be positive"):
        Normalization.load(tmp_path / "neg.json")


def test_which_inputs_an_encoder_accepts() -> None:
    """A fusion-layout encoder takes every input; a single-sensor encoder only its own."""
    from sensormoco.data.bands import FUSION_BANDS, INPUT_BANDS, accepts, input_of

    assert all(accepts(FUSION_BANDS, i) for i in INPUT_BANDS)
    assert accepts(INPUT_BANDS["s1"], "s1")
    assert not accepts(INPUT_BANDS["s1"], "s2")
    assert not accepts(INPUT_BANDS["s2"], "s1s2")
    assert [input_of(INPUT_BANDS[i]) for i in INPUT_BANDS] == list(INPUT_BANDS)
    with pytest.raises(ValueError, match="no input's"):
        input_of(("VV",))
    with pytest.raises(ValueError, match="unknown input"):
        accepts(FUSION_BANDS, "rgb")
