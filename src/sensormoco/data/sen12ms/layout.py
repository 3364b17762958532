"""SEN12MS as distributed: patch ids, the on-disk layout, scanning and per-triplet validation.

Layout (docs/design.md §2): ``ROOT/ROIs1158_spring/s1_1/ROIs1158_spring_s1_1_p30.tif``, with ``s1``,
``s2`` and ``lc`` folders per scene. A patch id names a location without a sensor:
``ROIs1158_spring_1_p30``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensormoco.atomic import atomic_write_text
from sensormoco.data.geotiff import RasterInfo, read_info, read_raster
from sensormoco.data.sen12ms.pixels import clean_s1_ as clean_s1_  # re-exported
from sensormoco.data.sen12ms.pixels import clip_s2_ as clip_s2_  # re-exported
from sensormoco.data.sen12ms.pixels import clip_s2_raw_ as clip_s2_raw_  # re-exported
from sensormoco.data.sen12ms.pixels import read_s1 as read_s1  # re-exported
from sensormoco.data.sen12ms.pixels import read_s2 as read_s2  # re-exported
from sensormoco.errors import DataError

SEASONS: tuple[str, ...] = (
    "ROIs1158_spring",
    "ROIs1868_summer",
    "ROIs1970_fall",
    "ROIs2017_winter",
)
SENSORS: tuple[str, ...] = ("s1", "s2", "lc")
BAND_COUNTS: dict[str, int] = {"s1": 2, "s2": 13, "lc": 4}

_ID_RE = re.compile(
    r"^(?P<season>ROIs\d{4}_(?:spring|summer|fall|winter))_(?:(?P<sensor>s1|s2|lc)_)?"
    r"(?P<scene>\d+)_p(?P<patch>\d+)(?:\.tif)?$"
)


@dataclass(frozen=True, order=True)
class PatchId:
    """One SEN12MS location. Sorting follows season, scene number, patch number (numeric)."""

    season: str
    scene: int
    patch: int

    def __str__(self) -> str:
        return f"{self.season}_{self.scene}_p{self.patch}"

    @property
    def scene_key(self) -> str:
        """The scene as the hold-out list names it: ``ROIs1158_spring/s1_63``."""
        return f"{self.season}/s1_{self.scene}"

    def filename(self, sensor: str) -> str:
        return f"{self.season}_{sensor}_{self.scene}_p{self.patch}.tif"

    def relpath(self, sensor: str) -> Path:
        return Path(self.season) / f"{sensor}_{self.scene}" / self.filename(sensor)

    @classmethod
    def parse(cls, text: str) -> PatchId:
        """Parse an id, a sensor file name or a relative path (``.../X_s2_27_p5.tif``)."""
        name = text.strip().replace("\\", "/").rsplit("/", 1)[-1]
        match = _ID_RE.match(name)
        if match is None:
            raise ValueError(f"not a SEN12MS patch id or file name: {text.strip()!r}")
        return cls(match["season"], int(match["scene"]), int(match["patch"]))


def expected_dtype_ok(sensor: str, dtype: str) -> bool:
    """s1 float32 (dB), s2 uint16 (reflectance x 1e4), lc any integer type."""
    if sensor == "s1":
        return dtype == "float32"
    if sensor == "s2":
        return dtype == "uint16"
    try:
        return np.issubdtype(np.dtype(dtype), np.integer)
    except TypeError:  # a GDAL type numpy does not know (e.g. complex_int16): not an integer
        return False


_DTYPE_WORDS = {"s1": "float32", "s2": "uint16", "lc": "an integer type"}


@dataclass
class TreeScan:
    """Files found under a SEN12MS root, grouped by patch id, plus what could not be placed."""

    root: Path
    files: dict[PatchId, dict[str, Path]] = field(default_factory=dict)
    unrecognised: list[Path] = field(default_factory=list)


def scan_tree(root: str | Path) -> TreeScan:
    """Find every ``.tif`` of a SEN12MS root and group them by patch id (no file is opened)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "not a directory")
    seasons = [root / s for s in SEASONS if (root / s).is_dir()]
    if not seasons:
        raise DataError(
            root,
            f"no SEN12MS season folders ({', '.join(SEASONS)}); is this a SEN12MS root?",
        )
    scan = TreeScan(root)
    for season_dir in seasons:
        for path in sorted(season_dir.rglob("*.tif")):
            match = _ID_RE.match(path.name)
            if (
                match is None
                or match["sensor"] is None
                or match["season"] != season_dir.name
                or path.parent.name != f"{match['sensor']}_{match['scene']}"
            ):
                scan.unrecognised.append(path)
                continue
            pid = PatchId(match["season"], int(match["scene"]), int(match["patch"]))
            scan.files.setdefault(pid, {})[match["sensor"]] = path
    if not scan.files:
        raise DataError(root, "no SEN12MS patch files (*_s1_*, *_s2_*, *_lc_*.tif) found")
    return scan


@dataclass
class PatchRecord:
    """One validated triplet: what the index records per patch id."""

    patch_id: PatchId
    paths: dict[str, str]  # sensor -> path relative to the root ("" when missing)
    crs: str = ""
    bounds: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    width: int = 0
    height: int = 0
    dtypes: dict[str, str] = field(default_factory=dict)
    s1_nonfinite: int | None = None  # None when pixels were not read
    reason: str = ""  # one line naming the file and the problem; empty when usable
    kind: str = ""  # the problem's category ("missing", "unreadable", "dtype", ...)

    @property
    def ok(self) -> bool:
        return not self.reason


def check_triplet(
    root: Path, pid: PatchId, files: dict[str, Path], read_pixels: bool = True
) -> PatchRecord:
    """Validate one triplet; problems become ``reason`` (one line naming the file), never raised."""
    record = PatchRecord(pid, {s: str(p.relative_to(root)) for s, p in files.items()})
    for sensor in SENSORS:
        record.paths.setdefault(sensor, "")
    try:
        infos = _check_headers(root, pid, files)
        s2 = infos["s2"]
        record.crs, record.bounds = s2.crs, s2.bounds
        record.width, record.height = s2.width, s2.height
        record.dtypes = {s: i.dtype for s, i in infos.items()}
        if read_pixels:
            record.s1_nonfinite = _check_pixels(files)
    except DataError as exc:
        record.reason, record.kind = str(exc), exc.kind
    return record


def _check_headers(root: Path, pid: PatchId, files: dict[str, Path]) -> dict[str, RasterInfo]:
    for sensor in SENSORS:
        if sensor not in files:
            raise DataError(
                root / pid.relpath(sensor), f"missing {sensor} file of patch {pid}", "missing"
            )
    infos = {s: read_info(files[s]) for s in SENSORS}
    for sensor, info in infos.items():
        if info.count != BAND_COUNTS[sensor]:
            raise DataError(
                info.path,
                f"{info.count} band(s), expected {BAND_COUNTS[sensor]} for {sensor}",
                "bands",
            )
        if not expected_dtype_ok(sensor, info.dtype):
            raise DataError(
                info.path, f"dtype {info.dtype}, expected {_DTYPE_WORDS[sensor]}", "dtype"
            )
    s2 = infos["s2"]
    if not s2.crs:
        raise DataError(s2.path, "has no CRS", "crs")
    for sensor in ("s1", "lc"):
        info = infos[sensor]
        if (info.width, info.height) != (s2.width, s2.height):
            raise DataError(
                info.path,
                f"size {info.width}x{info.height} differs from its s2 patch "
                f"({s2.width}x{s2.height})",
                "size",
            )
        if info.crs != s2.crs:
            raise DataError(
                info.path, f"CRS {info.crs or 'none'} differs from its s2 ({s2.crs})", "crs"
            )
        pixel = (s2.bounds[2] - s2.bounds[0]) / max(s2.width, 1)
        if max(abs(a - b) for a, b in zip(info.bounds, s2.bounds, strict=True)) > pixel / 2:
            raise DataError(
                info.path, f"bounds {info.bounds} differ from its s2 ({s2.bounds})", "bounds"
            )
    return infos


def _check_pixels(files: dict[str, Path]) -> int:
    """Read every band of the triplet; return the S1 non-finite pixel count."""
    s1, _ = read_raster(files["s1"])
    nonfinite = int(np.count_nonzero(~np.isfinite(s1)))
    if nonfinite == s1.size:
        raise DataError(files["s1"], "every S1 pixel is NaN or Inf", "nan")
    read_raster(files["s2"])
    read_raster(files["lc"])
    return nonfinite


def mark_odd_sizes(records: Iterable[PatchRecord], root: Path) -> tuple[int, int] | None:
    """Flag usable records whose size differs from the tree's most common size; return that size."""
    usable = [r for r in records if r.ok]
    if not usable:
        return None
    sizes: dict[tuple[int, int], int] = {}
    for r in usable:
        sizes[(r.width, r.height)] = sizes.get((r.width, r.height), 0) + 1
    common = max(sizes, key=lambda s: (sizes[s], s))
    for r in usable:
        if (r.width, r.height) != common:
            r.reason = (
                f"{root / r.paths['s2']}: size {r.width}x{r.height}, "
                f"expected {common[0]}x{common[1]} like the rest of the tree"
            )
            r.kind = "size"
    return common


def read_id_list(path: str | Path) -> list[PatchId]:
    """Read patch ids, one per line (ids, S2 file names or relative paths; '#' comments)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read id list ({exc})") from exc
    ids = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            ids.append(PatchId.parse(text))
        except ValueError as exc:
            raise DataError(f"{path}:{number}", str(exc)) from exc
    return ids


def write_id_list(path: str | Path, ids: Iterable[PatchId]) -> None:
    """Write patch ids one per line, atomically."""
    atomic_write_text(path, "".join(f"{pid}\n" for pid in ids))
