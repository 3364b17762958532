"""A tiny encoder for tests of MoCo's bookkeeping: every row meets batch norm, in milliseconds."""

from __future__ import annotations

from typing import cast

from torch import Tensor, nn

from sensormoco.data.bands import FUSION_BANDS
from sensormoco.models.adapters import build_adapter
from sensormoco.models.backbones import Backbone
from sensormoco.models.heads import ProjectionHead
from sensormoco.models.moco import Encoder


class TinyBackbone(nn.Module):
    """conv + BN + ReLU + pooling, with the attributes of a :class:`Backbone`."""

    def __init__(self, in_chans: int) -> None:
        super().__init__()
        self.in_chans, self.num_features, self.name = in_chans, 8, "tiny"
        self.net = nn.Sequential(nn.Conv2d(in_chans, 8, 3), nn.BatchNorm2d(8), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten())  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)  # N x 8
        return out


def tiny_encoder(bands: tuple[str, ...] = FUSION_BANDS) -> Encoder:
    adapter, channels = build_adapter("conv1", bands)
    return Encoder(adapter, cast(Backbone, TinyBackbone(channels)), ProjectionHead(8, 8, 8))
