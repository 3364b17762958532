"""Small fake BigEarthNet-MM patch folders in the distributed layout: real GeoTIFFs (UTM CRS,
10 / 20 / 60 m transforms) written with rasterio, and labels JSONs as the dataset ships them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine

from sensormoco.data.bigearthnet.v1 import NATIVE_SIZE, band_file, metadata_file
from sensormoco.data.geotiff import write_raster

S2_FILE_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")
CRS = "EPSG:32633"
ORIGIN = (404400.0, 5342400.0)  # upper-left corner of a 1,200 m patch


def _transform(size: int) -> Affine:
    pixel = 1200.0 / size
    return Affine(pixel, 0, ORIGIN[0], 0, -pixel, ORIGIN[1])


def write_band(folder: Path, band: str, data: np.ndarray) -> Path:
    """Write one single-band GeoTIFF ``FOLDER/FOLDER_Bxx.tif`` covering the patch footprint."""
    path = band_file(folder, band)
    write_raster(path, data[None], CRS, _transform(data.shape[-1]))
    return path


def write_s2_patch(
    root: Path,
    name: str,
    labels: Iterable[str] = ("Pastures",),
    seed: int = 0,
    bands: Mapping[str, np.ndarray | None] | None = None,
) -> Path:
    """An S2 folder with 12 uint16 bands at native size; ``bands`` overrides a band's array,
    or leaves its file out with None."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    overrides = dict(bands or {})
    for band in S2_FILE_BANDS:
        size = NATIVE_SIZE[band]
        data = overrides.get(band, rng.integers(0, 10000, (size, size)).astype(np.uint16))
        if data is not None:
            write_band(folder, band, data)
    meta = {
        "labels": list(labels),
        "coordinates": {"ulx": 404400, "uly": 5342400, "lrx": 405600, "lry": 5341200},
        "projection": "EPSG:32633",
        "tile_source": "fake",
        "acquisition_date": "2017-06-13 10:10:31",
    }
    metadata_file(folder).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def write_s1_patch(
    root: Path,
    name: str,
    s2_name: str,
    labels: Iterable[str] = ("Pastures",),
    seed: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """An S1 folder with float32 VV and VH (dB) naming ``s2_name`` as its partner; ``metadata``
    replaces the JSON content when given."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    write_band(folder, "VV", rng.uniform(-25, 5, (120, 120)).astype(np.float32))
    write_band(folder, "VH", rng.uniform(-35, -5, (120, 120)).astype(np.float32))
    meta = {
        "labels": list(labels),
        "coordinates": {"ulx": 404400, "uly": 5342400, "lrx": 405600, "lly": 5341200},
        "corresponding_s2_patch": s2_name,
        "acquisition_time": "2017-06-13T16:50:43",
    }
    if metadata is not None:
        meta = dict(metadata)
    metadata_file(folder).write_text(json.dumps(meta), encoding="utf-8")
    return folder


def write_pair(
    s1_root: Path, s2_root: Path, tile: int, labels: Iterable[str] = ("Pastures",)
) -> tuple[Path, Path]:
    """One S1/S2 pair named like the real ones (``..._{tile}_{tile}``)."""
    s2_name = f"S2A_MSIL2A_20170613T101031_{tile}_{tile}"
    s1_name = f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{tile}_{tile}"
    labels = tuple(labels)
    s2 = write_s2_patch(s2_root, s2_name, labels, seed=tile)
    s1 = write_s1_patch(s1_root, s1_name, s2_name, labels, seed=tile)
    return s1, s2
