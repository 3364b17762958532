"""BigEarthNet-MM v1 as distributed: patch folders, S1/S2 pairing, official splits and a PyTorch
dataset (docs/design.md §2).

Layout: ``S2_ROOT/S2A_MSIL2A_20170613T101031_87_48/S2A_MSIL2A_20170613T101031_87_48_B01.tif``
(12 band files, no B10) and ``S1_ROOT/S1A_IW_GRDH_1SDV_..._87_48/..._VV.tif``, ``..._VH.tif``;
each folder holds a ``*_labels_metadata.json``, the S1 one naming its S2 patch. Bands keep the
project's names (``B1`` ... ``B12``, ``VV``, ``VH``); files are found by their suffix, never by
sorting file names (which would put VH before VV).

Resampling: the 20 m (60 x 60) and 60 m (20 x 20) bands are brought to the 120 x 120 grid of
the 10 m bands by bilinear interpolation with pixel-centre alignment and edge clamping (as
``torch.nn.functional.interpolate(..., mode="bilinear", align_corners=False)`` and GDAL's
bilinear read, which torchgeo's BigEarthNet loader uses). Bilinear keeps the footprint exact (a
linear ramp stays linear), blends only neighbouring pixels (no overshoot, so no negative
reflectance, unlike cubic), and does not invent 10 m edges the way nearest's 2 x 2 / 6 x 6 blocks
do. It runs in float32 on the stored values, so nothing is rounded back to integers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensormoco.data.bands import (
    BIGEARTHNET_S2_BANDS,
    S1_BANDS,
    resolve_bands,
)
from sensormoco.data.bigearthnet.labels import read_metadata
from sensormoco.data.geotiff import read_raster
from sensormoco.errors import DataError

PATCH_SIZE = 120  # pixels of the 10 m grid every band is brought to
# native side length per band: 10 m -> 120, 20 m -> 60, 60 m -> 20
NATIVE_SIZE: dict[str, int] = {
    "B1": 20,
    "B2": 120,
    "B3": 120,
    "B4": 120,
    "B5": 60,
    "B6": 60,
    "B7": 60,
    "B8": 120,
    "B8A": 60,
    "B9": 20,
    "B11": 60,
    "B12": 60,
    "VV": 120,
    "VH": 120,
}
FILE_SUFFIX: dict[str, str] = {
    "B1": "B01",
    "B2": "B02",
    "B3": "B03",
    "B4": "B04",
    "B5": "B05",
    "B6": "B06",
    "B7": "B07",
    "B8": "B08",
    "B8A": "B8A",
    "B9": "B09",
    "B11": "B11",
    "B12": "B12",
    "VV": "VV",
    "VH": "VH",
}
_DTYPE = {"s1": "float32", "s2": "uint16"}


def band_file(folder: str | Path, band: str) -> Path:
    """The file of ``band`` (project name, e.g. ``B8A`` or ``VV``) in a patch folder."""
    folder = Path(folder)
    return folder / f"{folder.name}_{FILE_SUFFIX[band]}.tif"


def metadata_file(folder: str | Path) -> Path:
    folder = Path(folder)
    return folder / f"{folder.name}_labels_metadata.json"


def resolve_s2_bands(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Resolve an S2 band spec (set name or names) to bands BigEarthNet has (no B10)."""
    names = resolve_bands("s2", spec)
    absent = [b for b in names if b not in BIGEARTHNET_S2_BANDS]
    if absent:
        known = list(BIGEARTHNET_S2_BANDS)
        raise ValueError(f"BigEarthNet has no band(s) {absent}; its bands are {known}")
    return names


def upsample_bilinear(band: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Resample an (H, W) band to (size, size), bilinear, pixel centres aligned, edges clamped."""

    def axis(n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.clip((np.arange(size) + 0.5) * (n_in / size) - 0.5, 0, n_in - 1)
        lo = np.floor(x).astype(np.intp)
        return lo, np.minimum(lo + 1, n_in - 1), (x - lo).astype(np.float32)

    data = band.astype(np.float32)
    if data.shape == (size, size):
        return data
    r0, r1, wr = axis(data.shape[0])
    c0, c1, wc = axis(data.shape[1])
    rows = data[r0] + (data[r1] - data[r0]) * wr[:, None]  # size x W
    out: np.ndarray = rows[:, c0] + (rows[:, c1] - rows[:, c0]) * wc  # size x size
    return out


def _read_band(folder: Path, sensor: str, band: str) -> np.ndarray:
    path = band_file(folder, band)
    if not path.is_file():
        raise DataError(folder, f"no {band} band file ({path.name})", "missing")
    data, info = read_raster(path)
    native = NATIVE_SIZE[band]
    if (info.count, info.height, info.width) != (1, native, native):
        shape = f"{info.count} x {info.height} x {info.width}"
        raise DataError(
            path, f"{shape} pixels, expected 1 x {native} x {native} for {band}", "size"
        )
    if info.dtype != _DTYPE[sensor]:
        raise DataError(path, f"dtype {info.dtype}, expected {_DTYPE[sensor]}", "dtype")
    return upsample_bilinear(data[0])


def read_s2(folder: str | Path, bands: str | Sequence[str] = BIGEARTHNET_S2_BANDS) -> np.ndarray:
    """S2 bands (C x 120 x 120 float32, reflectance x 1e4 as stored), all on the 10 m grid."""
    names = resolve_s2_bands(bands)
    return np.stack([_read_band(Path(folder), "s2", b) for b in names])  # C x 120 x 120


def read_s1(folder: str | Path, bands: str | Sequence[str] = S1_BANDS) -> np.ndarray:
    """S1 bands (C x 120 x 120 float32, dB as stored), VV then VH by default."""
    names = resolve_bands("s1", bands)
    return np.stack([_read_band(Path(folder), "s1", b) for b in names])  # C x 120 x 120


@dataclass(frozen=True)
class BigEarthNetRecord:
    """One S1/S2 pair and its CORINE label names (from the S1 JSON, which BigEarthNet-MM
    copies from the S2 one)."""

    s1_dir: Path
    s2_dir: Path
    labels: tuple[str, ...]

    @property
    def s1_name(self) -> str:
        return self.s1_dir.name

    @property
    def s2_name(self) -> str:
        return self.s2_dir.name


@dataclass
class PairScan:
    """Paired patches, sorted by S1 name, and one error per S1 folder that was skipped."""

    records: list[BigEarthNetRecord]
    problems: list[DataError] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        kinds = Counter(p.kind for p in self.problems)
        detail = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        total = len(self.records) + self.skipped
        text = f"{total} S1 folder(s): {len(self.records)} paired, {self.skipped} skipped"
        return text + (f" ({detail})" if detail else "")


def scan_pairs(s1_root: str | Path, s2_root: str | Path, check_files: bool = True) -> PairScan:
    """Pair every S1 folder of ``s1_root`` with the S2 folder its JSON names in ``s2_root``.
    Folders that cannot be paired (bad JSON, unknown label, S2 partner absent or claimed twice,
    band file missing when ``check_files``) are skipped and reported, never dropped silently."""
    s1_root, s2_root = Path(s1_root), Path(s2_root)
    for root in (s1_root, s2_root):
        if not root.is_dir():
            raise DataError(root, "not a directory")
    folders = sorted(p for p in s1_root.iterdir() if p.is_dir())
    if not folders:
        raise DataError(s1_root, "no BigEarthNet S1 patch folders")
    scan = PairScan([])
    claimed: dict[str, str] = {}
    for s1_dir in folders:
        try:
            scan.records.append(_pair(s1_dir, s2_root, claimed, check_files))
        except DataError as exc:
            scan.problems.append(exc)
    return scan


def _pair(
    s1_dir: Path, s2_root: Path, claimed: dict[str, str], check_files: bool
) -> BigEarthNetRecord:
    meta = read_metadata(metadata_file(s1_dir), "s1")
    s2_name = meta.corresponding_s2_patch or ""
    s2_dir = s2_root / s2_name
    if Path(s2_name).name != s2_name or not s2_dir.is_dir():
        raise DataError(s1_dir, f"its S2 patch {s2_name!r} is not in {s2_root}", "unpaired")
    if s2_name in claimed:
        other = claimed[s2_name]
        raise DataError(
            s1_dir, f"its S2 patch {s2_name} is already paired with {other}", "duplicate"
        )
    if check_files:
        for folder, bands in ((s1_dir, S1_BANDS), (s2_dir, BIGEARTHNET_S2_BANDS)):
            for band in bands:
                path = band_file(folder, band)
                if not path.is_file():
                    raise DataError(folder, f"no {band} band file ({path.name})", "missing")
    claimed[s2_name] = s1_dir.name
    return BigEarthNetRecord(s1_dir, s2_dir, meta.labels)


_S2_NAME = re.compile(r"^S2[AB]_\w+$")
_S1_NAME = re.compile(r"^S1[AB]_\w+$")


def read_split_csv(path: str | Path) -> list[tuple[str, str]]:
    """Read an official split file: ``S2name,S1name`` per line (a header line is tolerated);
    returns (s2, s1) name pairs in file order."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read split file ({exc})") from exc
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    first = True
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) == 2 and _S2_NAME.match(fields[0]) and _S1_NAME.match(fields[1]):
            if fields[0] in seen:
                raise DataError(f"{path}:{number}", f"S2 patch {fields[0]} listed twice")
            seen.add(fields[0])
            pairs.append((fields[0], fields[1]))
        elif not (first and not any(_S2_NAME.match(f) or _S1_NAME.match(f) for f in fields)):
            raise DataError(f"{path}:{number}", f"expected 'S2name,S1name', got {line[:80]!r}")
        first = False
    if not pairs:
        raise DataError(path, "no 'S2name,S1name' lines")
    return pairs


def select_split(
    records: Iterable[BigEarthNetRecord], pairs: Sequence[tuple[str, str]]
) -> tuple[list[BigEarthNetRecord], list[tuple[str, str]]]:
    """The records of a split's (s2, s1) pairs, in split order, and the pairs not found."""
    by_pair = {(r.s2_name, r.s1_name): r for r in records}
    found = [by_pair[p] for p in pairs if p in by_pair]
    return found, [p for p in pairs if p not in by_pair]
