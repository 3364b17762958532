"""Encoders that load anywhere: the public loading API and the timm / Hugging Face export."""

from sensormoco.export.folder import export_for_timm
from sensormoco.export.metadata import EncoderMetadata
from sensormoco.export.preprocess import Preprocessing
from sensormoco.export.pretrained import PretrainedEncoder, load_encoder

__all__ = ["EncoderMetadata", "Preprocessing", "PretrainedEncoder", "export_for_timm",
           "load_encoder"]  # fmt: skip
