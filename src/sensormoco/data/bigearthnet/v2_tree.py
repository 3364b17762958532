"""BigEarthNet v2 as GeoTIFF folders (docs/design.md §2)::

    BigEarthNet-S2/<patch_id minus its last two _-fields>/<patch_id>/<patch_id>_B01.tif ...
    BigEarthNet-S1/<s1_name minus its last three _-fields>/<s1_name>/<s1_name>_VV.tif, _VH.tif

(``Reference_Maps/`` holds pixel maps, not needed for scene labels.) Band files are found by
their suffix, never by sorting file names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sensormoco.data.geotiff import read_raster
from sensormoco.errors import DataError

S1_FOLDER = "BigEarthNet-S1"
S2_FOLDER = "BigEarthNet-S2"


def patch_dir(root: str | Path, name: str) -> Path:
    """The folder of patch ``name`` (an S2 ``patch_id`` or an S1 ``s1_name``) under ``root``."""
    s1 = name.startswith("S1")
    fields = name.split("_")
    drop = 3 if s1 else 2
    if len(fields) <= drop or Path(name).name != name:
        raise DataError(name, "not a BigEarthNet v2 patch name", "name")
    return Path(root) / (S1_FOLDER if s1 else S2_FOLDER) / "_".join(fields[:-drop]) / name


class TreeReader:
    """Band arrays of the patches in a BigEarthNet v2 GeoTIFF tree at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        for folder in (S1_FOLDER, S2_FOLDER):
            if not (self.root / folder).is_dir():
                raise DataError(self.root, f"no {folder} folder", "layout")

    def source(self, name: str) -> str:
        """How errors name patch ``name``."""
        return str(patch_dir(self.root, name))

    def has(self, name: str) -> bool:
        return patch_dir(self.root, name).is_dir()

    def band_file(self, name: str, band: str) -> Path:
        return patch_dir(self.root, name) / f"{name}_{band}.tif"

    def read(self, name: str, bands: Sequence[str]) -> dict[str, np.ndarray]:
        """The arrays of ``bands`` (file suffix names) of patch ``name``."""
        out: dict[str, np.ndarray] = {}
        for band in bands:
            path = self.band_file(name, band)
            if not path.is_file():
                raise DataError(
                    patch_dir(self.root, name), f"no {band} band file ({path.name})", "missing"
                )
            data, info = read_raster(path)
            if info.count != 1:
                raise DataError(path, f"{info.count} bands, expected 1", "bands")
            out[band] = data[0]
        return out
