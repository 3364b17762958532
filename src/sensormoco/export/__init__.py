"""Encoders that load anywhere: the public loading API and the timm / Hugging Face export."""

from sensormoco.export.folder import export_for_timm
from sensormoco.export.metadata import EncoderMetadata
from sensormoco.export.paired import PretrainedPair, load_paired_encoders
from sensormoco.export.preprocess import Preprocessing
from sensormoco.export.pretrained import PretrainedEncoder, load_encoder

__all__ = [
    "EncoderMetadata",
    "Preprocessing",
    "PretrainedEncoder",
    "PretrainedPair",
    "export_for_timm",
    "load_encoder",
    "load_paired_encoders",
]
