"""SEN12MS scene labels from the IGBP layer of the lc patches (DESIGN §2, "Scene labels").

A patch's label source is the 17-vector of IGBP class fractions of lc layer 1. From it:
``single`` is the argmax of the scheme's fraction vector (ties go to the lowest code) and
``multi`` every class whose fraction is >= a threshold. Class codes are 1-based everywhere.

Float note: fractions are ``count / valid`` in float64 and the igbp10 vector sums them in
ascending IGBP code order. Ties and the threshold are decided by exact comparisons on these
values as computed, with no epsilon. For 256 x 256 patches without invalid pixels every
fraction is a multiple of 2**-16, so the sums are exact and ties are exact too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensormoco import defaults
from sensormoco.atomic import atomic_path
from sensormoco.data.geotiff import read_raster
from sensormoco.data.sen12ms import PatchId
from sensormoco.errors import DataError

IGBP_NAMES: tuple[str, ...] = (
    "Evergreen needleleaf forest", "Evergreen broadleaf forest", "Deciduous needleleaf forest",
    "Deciduous broadleaf forest", "Mixed forest", "Closed shrublands", "Open shrublands",
    "Woody savannas", "Savannas", "Grasslands", "Permanent wetlands", "Croplands",
    "Urban and built-up", "Cropland/natural vegetation mosaic", "Permanent snow and ice",
    "Barren", "Water bodies",
)  # fmt: skip  # code i is IGBP_NAMES[i - 1]
SIMPLIFIED_NAMES: tuple[str, ...] = (
    "Forest", "Shrubland", "Savanna", "Grassland", "Wetlands", "Croplands",
    "Urban / built-up", "Snow / ice", "Barren", "Water",
)  # fmt: skip
# IGBP code (1-17) -> simplified code (1-10).
IGBP_TO_SIMPLIFIED: dict[int, int] = {
    1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 2, 7: 2, 8: 3, 9: 3, 10: 4,
    11: 5, 12: 6, 13: 7, 14: 6, 15: 8, 16: 9, 17: 10,
}  # fmt: skip
SCHEMES: dict[str, tuple[str, ...]] = {"igbp17": IGBP_NAMES, "igbp10": SIMPLIFIED_NAMES}
N_IGBP = len(IGBP_NAMES)


def _check_scheme(scheme: str) -> tuple[str, ...]:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown label scheme {scheme!r}; choose one of {sorted(SCHEMES)}")
    return SCHEMES[scheme]


def _check17(fractions: np.ndarray) -> np.ndarray:
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
    arr = _check17(fractions17)
    if _check_scheme(scheme) is IGBP_NAMES:
        return np.array(arr)  # a copy
    out = np.zeros(len(SIMPLIFIED_NAMES))  # 10
    for code, simple in IGBP_TO_SIMPLIFIED.items():  # ascending IGBP code
        out[simple - 1] += arr[code - 1]
    return out


def single_label(fractions: np.ndarray) -> int:
    """1-based code of the largest fraction; exact ties go to the lowest code."""
    return int(np.argmax(fractions)) + 1  # argmax returns the first of equal maxima


def multi_label(
    fractions: np.ndarray, threshold: float = defaults.LABEL_THRESHOLD
) -> tuple[int, ...]:
    """1-based codes whose fraction is >= ``threshold``, ascending."""
    return tuple(int(i) + 1 for i in np.flatnonzero(np.asarray(fractions) >= threshold))


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
            results = list(pool.map(_read_one, paths, chunksize=64))
    else:
        results = [_read_one(p) for p in paths]
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


def _slug(name: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in name.lower()).split()
    return "_".join(w for w in words if w != "and")


def fraction_columns(scheme: str) -> tuple[str, ...]:
    """CSV fraction columns: ``frac_<2-digit code>_<name slug>``, e.g. ``frac_01_forest``,
    ``frac_13_urban_built_up`` (igbp17), ``frac_07_urban_built_up`` (igbp10)."""
    return tuple(f"frac_{i:02d}_{_slug(n)}" for i, n in enumerate(_check_scheme(scheme), 1))


def csv_columns(scheme: str) -> tuple[str, ...]:
    return ("patch_id", "single", "multi", *fraction_columns(scheme))


def write_labels_csv(path: str | Path, rows: Iterable[LabelRow], scheme: str) -> None:
    """Write ``patch_id,single,multi,frac_...`` atomically. ``multi`` joins codes with ';'
    (empty when none); fractions are written with ``repr`` so they read back bit-exact."""
    columns = csv_columns(scheme)
    k = len(columns) - 3
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            if len(row.fractions) != k:
                raise ValueError(
                    f"{row.patch_id}: {len(row.fractions)} fractions, {scheme} has {k}"
                )
            multi = ";".join(str(c) for c in row.multi)
            writer.writerow(
                [str(row.patch_id), row.single, multi, *map(repr, map(float, row.fractions))]
            )


def _parse_row(values: list[str], k: int) -> LabelRow:
    if len(values) != k + 3:
        raise ValueError(f"{len(values)} field(s), expected {k + 3}")
    pid = PatchId.parse(values[0])
    single = int(values[1])
    multi = tuple(int(c) for c in values[2].split(";")) if values[2] else ()
    codes = (single, *multi)
    if min(codes) < 1 or max(codes) > k:
        raise ValueError(f"class code outside 1..{k}")
    if list(multi) != sorted(set(multi)):
        raise ValueError(f"multi {values[2]!r} is not ascending and unique")
    frac = np.array([float(v) for v in values[3:]])  # K
    if not np.all(np.isfinite(frac)):
        raise ValueError("non-finite fraction")
    return LabelRow(pid, single, multi, frac)


def read_labels_csv(path: str | Path, scheme: str | None = None) -> list[LabelRow]:
    """Read a labels CSV written by :func:`write_labels_csv`. The scheme is recognised from
    the header (and must equal ``scheme`` when given); errors name ``file:line``."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read labels ({exc})", "unreadable") from exc
    records = list(csv.reader(lines))
    header = tuple(records[0]) if records else ()
    found = [s for s in SCHEMES if csv_columns(s) == header]
    if not found:
        raise DataError(
            f"{path}:1", "not a labels CSV: header is not patch_id,single,multi,frac_..."
        )
    if scheme is not None and found[0] != scheme:
        raise DataError(path, f"has {found[0]} labels, expected {scheme}")
    k = len(header) - 3
    rows: list[LabelRow] = []
    seen: dict[PatchId, int] = {}
    for number, values in enumerate(records[1:], 2):
        try:
            row = _parse_row(values, k)
        except ValueError as exc:
            raise DataError(f"{path}:{number}", f"malformed labels row ({exc})") from exc
        if row.patch_id in seen:
            raise DataError(
                f"{path}:{number}", f"duplicate patch id {row.patch_id} (line {seen[row.patch_id]})"
            )
        seen[row.patch_id] = number
        rows.append(row)
    return rows


@dataclass(frozen=True)
class Disagreement:
    """A patch whose pickle fractions differ from its lc fractions by more than the tolerance."""

    patch_id: PatchId
    max_difference: float  # max over the 17 classes of |lc - pickle|
    code: int  # 1-based IGBP code where it is largest


@dataclass
class ProbabilityComparison:
    """lc-derived fractions checked against the probability pickle."""

    compared: int
    disagreements: list[Disagreement]  # sorted by patch id
    missing: list[PatchId]  # ids with lc fractions but no pickle entry, sorted

    @property
    def ok(self) -> bool:
        return not self.disagreements and not self.missing

    def summary(self, tolerance: float = defaults.PROBABILITY_TOLERANCE) -> str:
        """One line: compared, disagreeing (worst one named), missing from the pickle."""
        text = f"{self.compared} patch(es) compared with the pickle: "
        text += f"{len(self.disagreements)} differ by more than {tolerance:g}"
        if self.disagreements:
            worst = max(self.disagreements, key=lambda d: d.max_difference)
            text += f" (worst {worst.patch_id}: {worst.max_difference:.4g} on IGBP {worst.code})"
        return text + f", {len(self.missing)} missing from the pickle"


def compare_probabilities(
    from_lc: Mapping[PatchId, np.ndarray],
    from_pickle: Mapping[PatchId, np.ndarray],
    tolerance: float = defaults.PROBABILITY_TOLERANCE,
) -> ProbabilityComparison:
    """Compare 17-vectors per id; a difference > ``tolerance`` in any class disagrees. Pickle
    ids without lc fractions are ignored (the pickle covers the whole dataset)."""
    disagreements, missing = [], []
    for pid in sorted(from_lc):
        if pid not in from_pickle:
            missing.append(pid)
            continue
        diff = np.abs(_check17(from_lc[pid]) - _check17(from_pickle[pid]))  # 17
        worst = int(np.argmax(diff))
        if diff[worst] > tolerance:
            disagreements.append(Disagreement(pid, float(diff[worst]), worst + 1))
    return ProbabilityComparison(len(from_lc) - len(missing), disagreements, missing)
