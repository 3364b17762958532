"""SEN12MS scene labels from the IGBP layer of the lc patches (docs/design.md §2, "Scene labels").

A patch's label source is the 17-vector of IGBP class fractions of lc layer 1. From it:
``single`` is the argmax of the scheme's fraction vector (ties go to the lowest code) and
``multi`` every class whose fraction is >= a threshold. Class codes are 1-based everywhere.

Float note: fractions are ``count / n`` in float64 (n valid pixels) and the igbp10 vector sums
them in ascending IGBP code order, so a value can be off its exact rational by a few units in
the last place: with 10 valid pixels, Forest 3/10 is 0.3 but Croplands 1/10 + 2/10 is
0.30000000000000004; with 60, Croplands 1/60 + 5/60 is 0.09999999999999999, not 0.1. Ties and
the threshold are therefore decided within ``defaults.LABEL_EPS`` (1e-9): every fraction that
close to the largest ties with it (the lowest code wins), and a class is in ``multi`` when its
fraction is >= threshold - LABEL_EPS. This is safe because the rounding error of a sum of at
most 17 terms <= 1 is below 17 * 2**-53 (about 2e-15), while two genuinely different fractions
count/n differ by at least 1/n >= 2**-20 (about 1e-6) for any n <= 2**20 pixels (a SEN12MS
patch has n <= 2**16), and a fraction genuinely below a threshold p/q (a decimal such as 0.1
or 0.25) is below it by at least 1/(q n), far more than LABEL_EPS. Fractions from the
probability pickle are used as stored; those that are count / 2**16 are exact in float32
and float64 alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensormoco import defaults
from sensormoco.data.geotiff import read_raster
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError
from sensormoco.progress import track

IGBP_NAMES: tuple[str, ...] = (
    "Evergreen needleleaf forest",
    "Evergreen broadleaf forest",
    "Deciduous needleleaf forest",
    "Deciduous broadleaf forest",
    "Mixed forest",
    "Closed shrublands",
    "Open shrublands",
    "Woody savannas",
    "Savannas",
    "Grasslands",
    "Permanent wetlands",
    "Croplands",
    "Urban and built-up",
    "Cropland/natural vegetation mosaic",
    "Permanent snow and ice",
    "Barren",
    "Water bodies",
)  # code i is IGBP_NAMES[i - 1]
SIMPLIFIED_NAMES: tuple[str, ...] = (
    "Forest",
    "Shrubland",
    "Savanna",
    "Grassland",
    "Wetlands",
    "Croplands",
    "Urban / built-up",
    "Snow / ice",
    "Barren",
    "Water",
)
# IGBP code (1-17) -> simplified code (1-10).
IGBP_TO_SIMPLIFIED: dict[int, int] = {
    1: 1,
    2: 1,
    3: 1,
    4: 1,
    5: 1,
    6: 2,
    7: 2,
    8: 3,
    9: 3,
    10: 4,
    11: 5,
    12: 6,
    13: 7,
    14: 6,
    15: 8,
    16: 9,
    17: 10,
}
SCHEMES: dict[str, tuple[str, ...]] = {"igbp17": IGBP_NAMES, "igbp10": SIMPLIFIED_NAMES}
N_IGBP = len(IGBP_NAMES)
# Fractions this close are equal for ties and the threshold (see the float note above).


def scheme_names(scheme: str) -> tuple[str, ...]:
    """The class names of a scheme (code i is names[i - 1]), or ValueError."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    return SCHEMES[scheme]


def as_igbp17(fractions: np.ndarray) -> np.ndarray:
    """``fractions`` as a float64 array of the 17 IGBP classes, or ValueError."""
    arr = np.asarray(fractions, dtype=np.float64)
    if arr.shape != (N_IGBP,):
        raise ValueError(f"expected {N_IGBP} IGBP fractions, got shape {arr.shape}")
    return arr


def igbp_fractions(lc_layer1: np.ndarray) -> tuple[np.ndarray, int]:
    """Fractions of IGBP codes 1..17 (shape (17,), float64) over the valid pixels of an (H, W)
    integer layer, and the number of invalid pixels (codes outside 1..17).

    Raises ValueError when no pixel is valid.
    """
    if lc_layer1.ndim != 2 or not np.issubdtype(lc_layer1.dtype, np.integer):
        raise ValueError(
            f"expected an (H, W) integer layer, got {lc_layer1.dtype} {lc_layer1.shape}"
        )
    codes = lc_layer1.ravel()  # HW
    valid = (codes >= 1) & (codes <= N_IGBP)  # HW
    n_valid = int(np.count_nonzero(valid))
    if n_valid == 0:
        raise ValueError(f"no pixel has a valid IGBP code (1-{N_IGBP})")
    counts = np.bincount(codes[valid].astype(np.intp) - 1, minlength=N_IGBP)  # 17
    return counts / n_valid, codes.size - n_valid


def to_scheme(fractions17: np.ndarray, scheme: str) -> np.ndarray:
    """The scheme's fraction vector: identity for igbp17; igbp10 sums by IGBP_TO_SIMPLIFIED,
    adding codes in ascending order (deterministic rounding)."""
    arr = as_igbp17(fractions17)
    if scheme_names(scheme) is IGBP_NAMES:
        return np.array(arr)  # a copy
    out = np.zeros(len(SIMPLIFIED_NAMES))  # 10
    for code, simple in IGBP_TO_SIMPLIFIED.items():  # ascending IGBP code
        out[simple - 1] += arr[code - 1]
    return out


def single_label(fractions: np.ndarray) -> int:
    """1-based code of the largest fraction; fractions within defaults.LABEL_EPS of the largest tie
    with it, and ties go to the lowest code."""
    arr = np.asarray(fractions, dtype=np.float64)  # K
    return int(np.flatnonzero(arr >= arr.max() - defaults.LABEL_EPS)[0]) + 1


def multi_label(
    fractions: np.ndarray, threshold: float = defaults.LABEL_THRESHOLD
) -> tuple[int, ...]:
    """1-based codes whose fraction is >= ``threshold`` (within defaults.LABEL_EPS), ascending."""
    arr = np.asarray(fractions, dtype=np.float64)  # K
    return tuple(int(i) + 1 for i in np.flatnonzero(arr >= threshold - defaults.LABEL_EPS))


def read_lc_fractions(path: str | Path) -> tuple[np.ndarray, int]:
    """IGBP fractions (17,) and invalid pixel count of an lc GeoTIFF's layer 1."""
    data, info = read_raster(path, indexes=(1,))  # 1 x H x W
    if not np.issubdtype(data.dtype, np.integer):
        raise DataError(path, f"dtype {info.dtype}, expected an integer type", "dtype")
    try:
        return igbp_fractions(data[0])
    except ValueError as exc:
        raise DataError(path, f"{exc} in layer 1", "labels") from exc


@dataclass
class LcFractions:
    """Fractions read from many lc files; failures are kept as DataErrors, never raised."""

    fractions: dict[PatchId, np.ndarray] = field(default_factory=dict)  # id -> (17,)
    invalid_pixels: dict[PatchId, int] = field(default_factory=dict)  # only ids with some
    errors: dict[PatchId, DataError] = field(default_factory=dict)


def _read_one(path: Path) -> tuple[np.ndarray, int] | DataError:
    """Fractions and invalid count, or the DataError (returned, so one bad file never stops
    the others)."""
    try:
        return read_lc_fractions(path)
    except DataError as exc:
        return exc


def read_many_lc_fractions(
    lc_paths: Mapping[PatchId, str | Path], workers: int = defaults.SCAN_WORKERS
) -> LcFractions:
    """Read the IGBP fractions of every lc file (``workers`` processes; 0 = this process)."""
    ids = sorted(lc_paths)
    paths = [Path(lc_paths[pid]) for pid in ids]
    if workers > 0:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = list(track(pool.map(_read_one, paths, chunksize=64), "labels", len(paths)))
    else:
        results = [_read_one(p) for p in track(paths, "labels")]
    out = LcFractions()
    for pid, result in zip(ids, results, strict=True):
        if isinstance(result, DataError):
            out.errors[pid] = result
            continue
        out.fractions[pid], invalid = result
        if invalid:
            out.invalid_pixels[pid] = invalid
    return out


@dataclass(frozen=True, eq=False)  # eq=False: == on an ndarray field is ambiguous
class LabelRow:
    """Scene label of one patch in one scheme (codes 1-based)."""

    patch_id: PatchId
    single: int
    multi: tuple[int, ...]
    fractions: np.ndarray  # (K,) float64, K = 17 (igbp17) or 10 (igbp10)


def label_rows(
    fractions_by_id: Mapping[PatchId, np.ndarray],
    scheme: str = defaults.LABEL_SCHEME,
    threshold: float = defaults.LABEL_THRESHOLD,
) -> list[LabelRow]:
    """One LabelRow per patch (sorted by id) from IGBP 17-vectors."""
    rows = []
    for pid in sorted(fractions_by_id):
        frac = to_scheme(fractions_by_id[pid], scheme)  # K
        rows.append(LabelRow(pid, single_label(frac), multi_label(frac, threshold), frac))
    return rows
