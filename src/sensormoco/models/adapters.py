"""Input adapters: how N named bands meet a backbone (docs/design.md §3).

- ``conv1``: identity; the backbone's first convolution takes the N bands (the default).
- ``1x1``: per sensor a 1x1 convolution + BatchNorm + ReLU to 3 channels, so the backbone
  always takes 3 channels whatever the input (s1, s2 or s1s2). A backbone is thus
  interchangeable between band sets and with 3-channel (RGB) models; each sensor keeps its own
  projection. The rule for missing sensors: a sensor absent from a row (all its values exactly
  zero, :mod:`sensormoco.data.presence`) is not computed there: each sensor's branch runs only
  on the rows where it is present (its batch norm normalises over those rows alone), and each
  row's output is the **mean** of its present sensors' maps. An s1s2 input thus has the scale
  of a single-sensor one, and absent rows add nothing (a row with no sensor gives zeros).
- ``zero-pad``: bands are placed in the 12-channel fusion layout (:data:`FUSION_BANDS`: 10 S2
  land bands then VV, VH); missing bands are zeros, i.e. the band mean after normalisation.

Every adapter records its ``bands`` and the ``out_channels`` the backbone must take.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from sensormoco.data.bands import FUSION_BANDS, S1_BANDS, S2_BANDS, S2_LAND_BANDS
from sensormoco.data.presence import sensor_presence

ADAPTER_KINDS: tuple[str, ...] = ("conv1", "1x1", "zero-pad")
ONE_BY_ONE_CHANNELS = 3  # the 1x1 adapter's output width, fixed by the method

_SENSOR_ORDER = ("s2", "s1")  # as in the fusion layout
_SENSOR_OF_BAND = {band: "s1" for band in S1_BANDS} | {band: "s2" for band in S2_BANDS}


def sensor_groups(bands: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Channel indices of each sensor present in ``bands`` (validated names), S2 first."""
    bands = tuple(bands)
    if not bands:
        raise ValueError("an adapter needs at least one band")
    unknown = [b for b in bands if b not in _SENSOR_OF_BAND]
    if unknown:
        raise ValueError(f"unknown band(s) {unknown}; known: {list(S2_BANDS + S1_BANDS)}")
    if len(set(bands)) != len(bands):
        raise ValueError(f"duplicate band names in {list(bands)}")
    groups = {
        s: tuple(i for i, b in enumerate(bands) if _SENSOR_OF_BAND[b] == s) for s in _SENSOR_ORDER
    }
    return {s: idx for s, idx in groups.items() if idx}


def to_fusion_layout(s2: Tensor | None, s1: Tensor | None) -> Tensor:
    """Stack normalised S2 land bands (..., 10, H, W) and S1 (..., 2, H, W) into the fusion
    layout (..., 12, H, W); a missing sensor (``None``) becomes zeros."""
    present = s2 if s2 is not None else s1
    if present is None:
        raise ValueError("to_fusion_layout needs at least one of s2 and s1")
    shape = present.shape[:-3] + present.shape[-2:]
    parts = []
    for x, n, name in ((s2, len(S2_LAND_BANDS), "s2"), (s1, len(S1_BANDS), "s1")):
        if x is None:
            x = present.new_zeros(*shape[:-2], n, *shape[-2:])
        elif x.ndim < 3 or x.shape[-3] != n or x.shape[:-3] + x.shape[-2:] != shape:
            raise ValueError(
                f"{name} must be (..., {n}, H, W) matching the other sensor, got {tuple(x.shape)}"
            )
        parts.append(x)
    return torch.cat(parts, dim=-3)  # ... x 12 x H x W


class InputAdapter(nn.Module):
    """Base class: N x len(bands) x H x W -> N x out_channels x H x W."""

    kind: str = ""

    def __init__(self, bands: Sequence[str], out_channels: int) -> None:
        super().__init__()
        self.bands = tuple(bands)
        self.groups = sensor_groups(self.bands)
        self.out_channels = out_channels

    def check(self, x: Tensor) -> None:
        """Refuse an input whose channel count is not the number of bands."""
        if x.ndim != 4 or x.shape[1] != len(self.bands):
            raise ValueError(
                f"{self.kind} adapter expects N x {len(self.bands)} x H x W "
                f"(bands {list(self.bands)}), got {tuple(x.shape)}"
            )


class Conv1Adapter(InputAdapter):
    """Identity: the backbone's first convolution takes the bands directly."""

    kind = "conv1"

    def __init__(self, bands: Sequence[str]) -> None:
        super().__init__(bands, len(tuple(bands)))

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        return x  # N x C x H x W


class OneByOneAdapter(InputAdapter):
    """Per sensor 1x1 conv + BN + ReLU to 3 channels, run on the rows where the sensor is
    present; each row's output is the mean over its present sensors (3 channels out).

    When not ``trainable`` its parameters are frozen and it stays in eval mode (BN running
    statistics fixed), so it is a fixed function of its input.
    """

    kind = "1x1"

    def __init__(self, bands: Sequence[str], trainable: bool = True) -> None:
        super().__init__(bands, ONE_BY_ONE_CHANNELS)
        self.trainable = trainable
        self.projections = nn.ModuleDict(
            {
                sensor: nn.Sequential(
                    nn.Conv2d(len(idx), ONE_BY_ONE_CHANNELS, kernel_size=1, bias=False),
                    nn.BatchNorm2d(ONE_BY_ONE_CHANNELS),
                    nn.ReLU(inplace=True),
                )
                for sensor, idx in self.groups.items()
            }
        )
        for sensor, idx in self.groups.items():
            self.register_buffer(f"index_{sensor}", torch.tensor(idx), persistent=False)
        if not trainable:
            self.requires_grad_(False)
            self.eval()

    def train(self, mode: bool = True) -> OneByOneAdapter:
        """As :meth:`nn.Module.train`, but a frozen adapter always stays in eval mode."""
        return super().train(mode and self.trainable)

    def reset_parameters(self) -> None:
        """Re-initialise every projection (the ``moco-1x1-rnd`` transfer variant)."""
        for module in self.projections.modules():
            if isinstance(module, nn.Conv2d | nn.BatchNorm2d):
                module.reset_parameters()

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        present = sensor_presence(x, list(self.groups.values()))  # N x G
        out = x.new_zeros(x.shape[0], ONE_BY_ONE_CHANNELS, *x.shape[2:])  # N x 3 x H x W
        for g, (sensor, projection) in enumerate(self.projections.items()):
            rows = present[:, g].nonzero().squeeze(1)  # M
            if rows.numel() == 0:
                # keeps the branch in the graph (zero gradient), as DDP expects of every parameter
                out = out + sum(p.sum() for p in projection.parameters()) * 0.0
                continue
            index = self.get_buffer(f"index_{sensor}")
            part = x.index_select(0, rows).index_select(1, index)  # M x Cs x H x W
            out = out.index_add(0, rows, projection(part).to(out.dtype))  # N x 3 x H x W
        count = present.sum(dim=1).clamp_min(1).to(out.dtype)  # N
        return out / count.view(-1, 1, 1, 1)  # N x 3 x H x W


class ZeroPadAdapter(InputAdapter):
    """Places the bands in their slots of the 12-channel fusion layout, zeros elsewhere."""

    kind = "zero-pad"

    def __init__(self, bands: Sequence[str]) -> None:
        super().__init__(bands, len(FUSION_BANDS))
        outside = [b for b in self.bands if b not in FUSION_BANDS]
        if outside:
            raise ValueError(
                f"zero-pad adapter: band(s) {outside} are not in the fusion layout "
                f"{list(FUSION_BANDS)}"
            )
        slots = torch.tensor([FUSION_BANDS.index(b) for b in self.bands])
        self.register_buffer("slots", slots, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        self.check(x)
        out = x.new_zeros(x.shape[0], len(FUSION_BANDS), *x.shape[2:])  # N x 12 x H x W
        return out.index_copy(1, self.get_buffer("slots"), x)  # N x 12 x H x W


def build_adapter(
    kind: str, bands: Sequence[str], trainable: bool = True
) -> tuple[InputAdapter, int]:
    """The adapter ``kind`` (one of :data:`ADAPTER_KINDS`; ``zero_pad`` is accepted too) for
    ``bands``, and the channel count the backbone must take. ``trainable`` only concerns
    ``1x1``, the one adapter with parameters."""
    name = kind.replace("_", "-")
    adapter: InputAdapter
    if name == "conv1":
        adapter = Conv1Adapter(bands)
    elif name == "1x1":
        adapter = OneByOneAdapter(bands, trainable)
    elif name == "zero-pad":
        adapter = ZeroPadAdapter(bands)
    else:
        raise ValueError(f"unknown adapter {kind!r}; known adapters: {', '.join(ADAPTER_KINDS)}")
    return adapter, adapter.out_channels
