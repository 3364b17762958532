"""sensormoco: MoCo-v2 on geo-aligned Sentinel-1/Sentinel-2 pairs, with transfer evaluation.

The public API (docs/api.md) is imported on first use, so ``import sensormoco`` stays light:
``load_encoder``, ``load_paired_encoders`` (per-sensor encoders), ``EncoderMetadata``,
``Preprocessing``, ``PretrainedEncoder``, ``PretrainedPair``, ``export_for_timm``.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("sensormoco")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from sensormoco.export import (
        EncoderMetadata,
        Preprocessing,
        PretrainedEncoder,
        PretrainedPair,
        export_for_timm,
        load_encoder,
        load_paired_encoders,
    )

__all__ = [
    "EncoderMetadata",
    "Preprocessing",
    "PretrainedEncoder",
    "PretrainedPair",
    "__version__",
    "export_for_timm",
    "load_encoder",
    "load_paired_encoders",
]
_LAZY = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> Any:
    """The public API, imported on first access (torch and timm load only then)."""
    if name in _LAZY:
        from sensormoco import export

        return getattr(export, name)
    raise AttributeError(f"module 'sensormoco' has no attribute {name!r}")
