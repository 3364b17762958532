"""Models: backbones, input adapters, projection head and MoCo v2."""

from sensormoco.data.bands import FUSION_BANDS
from sensormoco.models.adapters import ADAPTER_KINDS, InputAdapter, build_adapter, to_fusion_layout
from sensormoco.models.backbones import BACKBONES, Backbone, build_backbone
from sensormoco.models.heads import ProjectionHead
from sensormoco.models.moco import Encoder, MoCo, MoCoOutput, build_encoder

__all__ = [
    "ADAPTER_KINDS",
    "BACKBONES",
    "FUSION_BANDS",
    "Backbone",
    "Encoder",
    "InputAdapter",
    "MoCo",
    "MoCoOutput",
    "ProjectionHead",
    "build_adapter",
    "build_backbone",
    "build_encoder",
    "to_fusion_layout",
]
