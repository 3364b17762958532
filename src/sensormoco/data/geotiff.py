"""GeoTIFF reading and writing through rasterio, with one-line errors naming the file."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from sensormoco import defaults
from sensormoco.atomic import atomic_path
from sensormoco.errors import DataError

Bounds = tuple[float, float, float, float]  # left, bottom, right, top


@dataclass(frozen=True)
class RasterInfo:
    """Header facts of one GeoTIFF."""

    path: str
    count: int
    dtype: str
    width: int
    height: int
    crs: str  # e.g. "EPSG:32633"; "" when the file has none
    bounds: Bounds


def _info(path: Path, src: rasterio.io.DatasetReader) -> RasterInfo:
    crs = src.crs.to_string() if src.crs is not None else ""
    b = src.bounds
    return RasterInfo(
        str(path),
        src.count,
        str(src.dtypes[0]),
        src.width,
        src.height,
        crs,
        (b.left, b.bottom, b.right, b.top),
    )


def _open(path: Path) -> rasterio.io.DatasetReader:
    if not path.is_file():
        raise DataError(path, "file not found", "missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except (RasterioError, OSError) as exc:
        raise DataError(path, f"not a readable GeoTIFF ({_first_line(exc)})", "unreadable") from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, preferring its cause's (rasterio wraps GDAL
    errors as "Read failed. See previous exception for details.")."""
    for candidate in (exc.__cause__, exc.__context__, exc):
        text = str(candidate).strip().splitlines() if candidate is not None else []
        if text and "See previous exception" not in text[0]:
            return text[0]
    return type(exc).__name__


def read_info(path: str | Path) -> RasterInfo:
    """Read the header of ``path`` only (fast: no pixel data)."""
    path = Path(path)
    with _open(path) as src:
        return _info(path, src)


def _itemsize(dtype: str) -> int:
    """Bytes per pixel of a rasterio dtype name (16 for types numpy does not know)."""
    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 16


def read_raster(
    path: str | Path, indexes: tuple[int, ...] | None = None
) -> tuple[np.ndarray, RasterInfo]:
    """Read bands ``indexes`` (1-based; all when None) of ``path`` as a (C, H, W) array."""
    path = Path(path)
    with _open(path) as src:
        info = _info(path, src)
        if indexes is not None and max(indexes, default=0) > src.count:
            raise DataError(
                path, f"has {src.count} band(s), band {max(indexes)} requested", "bands"
            )
        bands = len(indexes) if indexes is not None else src.count
        size = bands * src.width * src.height * _itemsize(src.dtypes[0])
        if size > defaults.MAX_RASTER_BYTES:
            raise DataError(
                path,
                f"declares {bands} x {src.height} x {src.width} pixels "
                f"({size / 2**30:.1f} GiB), too large for a patch",
                "size",
            )
        try:
            data = src.read(list(indexes) if indexes is not None else None)
        except (RasterioError, OSError) as exc:
            raise DataError(
                path, f"unreadable pixel data, truncated? ({_first_line(exc)})", "unreadable"
            ) from exc
    return data, info


def write_raster(
    path: str | Path,
    data: np.ndarray,
    crs: str,
    transform: Affine,
    compress: str | None = "deflate",
) -> None:
    """Write a (C, H, W) array as a tiled-free GeoTIFF, atomically."""
    if data.ndim != 3:
        raise ValueError(f"expected a (C, H, W) array, got shape {data.shape}")
    profile = {
        "driver": "GTiff",
        "count": data.shape[0],
        "height": data.shape[1],
        "width": data.shape[2],
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
    }
    if compress:
        profile["compress"] = compress
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
