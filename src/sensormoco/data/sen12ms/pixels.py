"""SEN12MS pixels as the models see them: S1 in dB with SEN12MS's own nan_to_num + clip,
S2 reflectance x 1e4 clipped to [0, 10000] (as float32, or as stored viewed as int16).

Every reader of SEN12MS pixels (the GeoTIFF tree, the packed store, export's preprocessing)
applies these functions, so each gives the same values bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sensormoco import defaults
from sensormoco.data.bands import band_indices
from sensormoco.data.geotiff import read_raster
from sensormoco.errors import DataError


def clean_s1_(data: np.ndarray) -> np.ndarray:
    """SEN12MS's own S1 rule, in place on float32 dB: nan_to_num, then clip to [-25, 0]
    (computed as clip, then NaN -> clip(0): the same bits in two passes instead of six)."""
    low, high = defaults.S1_CLIP_DB
    np.clip(data, low, high, out=data)  # +-inf -> high, low; NaN stays
    np.copyto(data, np.float32(min(max(0.0, low), high)), where=np.isnan(data))
    return data


def clip_s2_(data: np.ndarray) -> np.ndarray:
    """S2 reflectance x 1e4 (float32) clipped to [0, 10000], in place."""
    return np.clip(data, *defaults.S2_CLIP, out=data)


def preprocess_s1(data: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`clean_s1_` on a float32 copy of ``data``; also how many pixels were non-finite."""
    nonfinite = int(np.count_nonzero(~np.isfinite(data)))
    return clean_s1_(data.astype(np.float32, copy=True)), nonfinite


def preprocess_s2(data: np.ndarray) -> np.ndarray:
    """S2 reflectance x 1e4 as float32, clipped to [0, 10000]."""
    return clip_s2_(data.astype(np.float32))


def read_s1(path: str | Path, bands: Sequence[str]) -> tuple[np.ndarray, int]:
    """S1 bands (C, H, W) in dB after nan_to_num + clip, and the non-finite pixel count."""
    data, info = read_raster(path, band_indices("s1", bands))
    if info.dtype != "float32":
        raise DataError(path, f"dtype {info.dtype}, expected float32", "dtype")
    return preprocess_s1(data)


def read_s2(path: str | Path, bands: Sequence[str]) -> np.ndarray:
    """S2 bands (C, H, W) as float32 reflectance x 1e4, clipped to [0, 10000]."""
    return read_s2_raw(path, bands).astype(np.float32)  # exact: the values fit float32


def read_s2_raw(path: str | Path, bands: Sequence[str]) -> np.ndarray:
    """S2 bands (C, H, W) as stored, reflectance x 1e4 clipped to 10000, viewed as int16
    (:func:`clip_s2_raw_`)."""
    data, info = read_raster(path, band_indices("s2", bands))
    if info.dtype != "uint16":
        raise DataError(path, f"dtype {info.dtype}, expected uint16", "dtype")
    return clip_s2_raw_(data)


def clip_s2_raw_(data: np.ndarray) -> np.ndarray:
    """uint16 reflectance x 1e4 clipped to [0, 10000] in place, returned as an int16 view of
    the same bytes: exact (10000 < 2**15), the values of :func:`clip_s2_` on its float32 cast,
    and a dtype torch supports fully (its uint16 lacks most operations)."""
    # against a row of caps, not a scalar: numpy's vectorised loop, ~3x faster here
    cap = np.full(data.shape[-1:], defaults.S2_CLIP[1], np.uint16)  # W
    np.minimum(data, cap, out=data)
    return data.view(np.int16)
