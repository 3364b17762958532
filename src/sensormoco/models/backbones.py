"""Backbones: timm ResNets taking any number of input channels, returning pooled features."""

from __future__ import annotations

from typing import cast

import timm
from torch import Tensor, nn

BACKBONES: tuple[str, ...] = ("resnet18", "resnet34", "resnet50")


class Backbone(nn.Module):
    """A timm model without classifier: N x in_chans x H x W -> N x num_features.

    The timm model is ``self.model``; its state dict loads into
    ``timm.create_model(name, num_classes=0, in_chans=in_chans)``.
    """

    def __init__(self, name: str, in_chans: int) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}")
        if in_chans < 1:
            raise ValueError(f"in_chans must be at least 1, got {in_chans}")
        self.name = name
        self.in_chans = in_chans
        # pretrained=False: never download weights; num_classes=0: global-pooled features.
        self.model = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans)
        self.num_features = int(cast(int, self.model.num_features))

    def forward(self, x: Tensor) -> Tensor:
        """N x C x H x W -> N x F pooled features."""
        out: Tensor = self.model(x)
        return out


def build_backbone(name: str, in_chans: int) -> Backbone:
    """The backbone ``name`` (one of :data:`BACKBONES`) with a first convolution of
    ``in_chans`` channels, randomly initialised."""
    return Backbone(name, in_chans)
