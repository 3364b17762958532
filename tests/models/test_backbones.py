from __future__ import annotations

import pytest
import timm
import torch

from sensormoco.models.backbones import BACKBONES, build_backbone


@pytest.mark.parametrize(("name", "features"), [("resnet18", 512), ("resnet50", 2048)])
@pytest.mark.parametrize("in_chans", [2, 13])
def test_backbone_returns_pooled_features(name: str, features: int, in_chans: int) -> None:
    backbone = build_backbone(name, in_chans)
    assert backbone.num_features == features
    assert backbone.in_chans == in_chans
    with torch.no_grad():
        out = backbone.eval()(torch.randn(2, in_chans, 32, 32))
    assert out.shape == (2, features)


def test_backbone_weights_load_into_a_plain_timm_model() -> None:
    backbone = build_backbone("resnet18", 12)
    plain = timm.create_model("resnet18", pretrained=False, num_classes=0, in_chans=12)
    plain.load_state_dict(backbone.model.state_dict())  # strict: same keys and shapes


def test_unknown_backbone_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'vit_tiny'; known backbones: ") as err:
        build_backbone("vit_tiny", 3)
    assert all(name in str(err.value) for name in BACKBONES)
    with pytest.raises(ValueError, match="in_chans must be at least 1"):
        build_backbone("resnet18", 0)
