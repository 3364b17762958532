from __future__ import annotations

import pytest
import torch
from torch import nn

from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, S2_BANDS, S2_LAND_BANDS
from sensormoco.models.adapters import OneByOneAdapter, build_adapter, to_fusion_layout

BAND_SETS = {2: S1_BANDS, 10: S2_LAND_BANDS, 12: FUSION_BANDS, 13: S2_BANDS}


def test_fusion_bands_are_s2_land_then_s1() -> None:
    assert FUSION_BANDS == (
        "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12", "VV", "VH",
    )  # fmt: skip


@pytest.mark.parametrize("n_bands", [2, 10, 12, 13])
@pytest.mark.parametrize(("kind", "width"), [("conv1", None), ("1x1", 3), ("zero-pad", 12)])
def test_adapter_output_shapes(n_bands: int, kind: str, width: int | None) -> None:
    bands = BAND_SETS[n_bands]
    if kind == "zero-pad" and n_bands == 13:  # B1, B9, B10 have no slot in the fusion layout
        with pytest.raises(ValueError, match=r"\['B1', 'B9', 'B10'\] are not in the fusion"):
            build_adapter(kind, bands)
        return
    adapter, channels = build_adapter(kind, bands)
    expected = n_bands if width is None else width
    assert channels == adapter.out_channels == expected
    assert adapter.bands == bands
    assert adapter(torch.randn(4, n_bands, 8, 8)).shape == (4, expected, 8, 8)
    with pytest.raises(ValueError, match=f"expects N x {n_bands} x H x W"):
        adapter(torch.randn(4, n_bands + 1, 8, 8))


def test_one_by_one_averages_its_per_sensor_projections() -> None:
    adapter, _ = build_adapter("1x1", FUSION_BANDS)
    assert isinstance(adapter, OneByOneAdapter)
    assert set(adapter.projections) == {"s2", "s1"}
    x = torch.randn(4, 12, 8, 8)
    expected = (adapter.projections["s2"](x[:, :10]) + adapter.projections["s1"](x[:, 10:])) / 2
    torch.testing.assert_close(adapter(x), expected)
    single = OneByOneAdapter(S1_BANDS)
    assert set(single.projections) == {"s1"}


@pytest.mark.parametrize("training", [True, False])
def test_one_by_one_computes_each_sensor_on_its_present_rows_only(training: bool) -> None:
    """Rows 0-3 hold both sensors, rows 4-7 S2 only, rows 8-11 S1 only (absent: exact zeros).
    Each branch (and its batch norm) sees only its sensor's rows, and the output is the mean
    over the present sensors, so its scale does not depend on how many are present."""
    torch.manual_seed(0)
    adapter = OneByOneAdapter(FUSION_BANDS).train(training)
    x = torch.randn(12, 12, 8, 8)
    x[4:8, 10:] = 0
    x[8:, :10] = 0
    out = adapter(x)
    s2 = adapter.projections["s2"](x[:8, :10])  # rows 0-7
    s1 = adapter.projections["s1"](torch.cat([x[:4, 10:], x[8:, 10:]]))  # rows 0-3, 8-11
    torch.testing.assert_close(out[:4], (s2[:4] + s1[:4]) / 2)
    torch.testing.assert_close(out[4:8], s2[4:])
    torch.testing.assert_close(out[8:], s1[4:])
    # a row with no sensor at all gives zeros, and does not move the others
    blank = adapter(torch.cat([x, torch.zeros(2, 12, 8, 8)]))
    assert torch.count_nonzero(blank[12:]) == 0
    torch.testing.assert_close(blank[:12], out)


def test_frozen_one_by_one_has_no_grad_and_stays_in_eval() -> None:
    frozen, _ = build_adapter("1x1", FUSION_BANDS, trainable=False)
    assert all(not p.requires_grad for p in frozen.parameters())
    frozen.train()
    assert not any(m.training for m in frozen.modules())
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    frozen(torch.randn(4, 12, 8, 8))
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())  # no BN update
    trainable, _ = build_adapter("1x1", FUSION_BANDS, trainable=True)
    assert all(p.requires_grad for p in trainable.parameters())
    assert trainable.train().training


def test_one_by_one_reset_parameters() -> None:
    adapter = OneByOneAdapter(S1_BANDS)
    conv = next(m for m in adapter.modules() if isinstance(m, nn.Conv2d))
    before = conv.weight.clone()
    adapter.reset_parameters()
    assert not torch.equal(conv.weight, before)


def test_to_fusion_layout_places_bands_and_zeros() -> None:
    s2 = torch.arange(1.0, 11.0).view(1, 10, 1, 1).expand(2, 10, 3, 3)  # channel i holds i + 1
    s1 = torch.tensor([11.0, 12.0]).view(1, 2, 1, 1).expand(2, 2, 3, 3)
    both = to_fusion_layout(s2, s1)
    assert both.shape == (2, 12, 3, 3)
    assert both[0, :, 0, 0].tolist() == [float(i) for i in range(1, 13)]
    s2_only = to_fusion_layout(s2, None)
    assert torch.equal(s2_only[:, :10], s2)
    assert not s2_only[:, 10:].any()
    s1_only = to_fusion_layout(None, s1)
    assert not s1_only[:, :10].any()
    assert torch.equal(s1_only[:, 10:], s1)
    assert to_fusion_layout(None, s1[0]).shape == (12, 3, 3)  # unbatched C x H x W


def test_to_fusion_layout_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least one"):
        to_fusion_layout(None, None)
    with pytest.raises(ValueError, match=r"s1 must be \(\.\.\., 2, H, W\)"):
        to_fusion_layout(torch.zeros(2, 10, 4, 4), torch.zeros(2, 2, 5, 4))
    with pytest.raises(ValueError, match=r"s2 must be \(\.\.\., 10, H, W\)"):
        to_fusion_layout(torch.zeros(2, 13, 4, 4), None)


def test_zero_pad_adapter_matches_the_fusion_layout() -> None:
    s1 = torch.randn(4, 2, 8, 8)
    adapter, _ = build_adapter("zero_pad", S1_BANDS)  # underscore spelling accepted
    assert adapter.kind == "zero-pad"
    torch.testing.assert_close(adapter(s1), to_fusion_layout(None, s1))
    swapped, _ = build_adapter("zero-pad", ("VH", "VV"))
    torch.testing.assert_close(swapped(s1.flip(1)), to_fusion_layout(None, s1))


def test_build_adapter_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown adapter 'pca'; known adapters: conv1, 1x1"):
        build_adapter("pca", S1_BANDS)
    with pytest.raises(ValueError, match=r"unknown band\(s\) \['B13'\]"):
        build_adapter("conv1", ("B2", "B13"))
    with pytest.raises(ValueError, match="duplicate"):
        build_adapter("1x1", ("VV", "VV"))
    with pytest.raises(ValueError, match="at least one band"):
        build_adapter("conv1", ())
