"""SEN12MS's precomputed scene labels, ``IGBP_probability_labels.pkl``: loaded safely, and
compared with the fractions read from the lc files.

The file is a dict: S2 file name (``ROIs1158_spring_s2_1_p30.tif``) -> 17 IGBP fractions, as a
list or a numpy array. A pickle can run arbitrary code when loaded, so it is read with an
restricted unpickler (:mod:`sensormoco.data.safe_pickle`) that never runs code.

A file that is unsafe, unreadable, not a dict or empty is rejected; a bad entry (key or value)
is skipped and reported, so one bad patch does not reject the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sensormoco import defaults
from sensormoco.data.safe_pickle import load_restricted_pickle, short_text, type_name
from sensormoco.data.sen12ms.labels import N_IGBP, as_igbp17
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError

_MAX_KEY_CHARS = 80  # longer keys are cut in messages


def _show_key(key: object) -> str:
    """A key for a one-line message: a plain file name as is, anything else as repr."""
    text = key if isinstance(key, str) and key.isprintable() and key.strip() == key else None
    return short_text(text if text else repr(key), _MAX_KEY_CHARS)


def _as_array(value: object) -> np.ndarray:
    """An entry's value as a (17,) array, or ValueError. A list or tuple is checked item by
    item before numpy sees it: numpy explores nested (even self-referencing) lists to 32
    levels, which a crafted pickle can make take forever."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, (list, tuple)):
        if len(value) != N_IGBP:
            raise ValueError(f"{len(value)} values, expected {N_IGBP}")
        for item in value:
            if isinstance(item, (list, tuple, np.ndarray)):
                raise ValueError(f"a nested sequence, expected {N_IGBP} values")
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, float, np.number)):
                raise ValueError(f"a {type_name(item)} among the values, expected numbers")
        try:
            arr = np.array([float(item) for item in value])  # 17
        except OverflowError as exc:  # an int beyond float range
            raise ValueError("a value too large for a float") from exc
    else:
        raise ValueError(f"a {type_name(value)}, expected {N_IGBP} values")
    if arr.shape != (N_IGBP,):
        if arr.ndim == 1:
            raise ValueError(f"{arr.shape[0]} values, expected {N_IGBP}")
        raise ValueError(f"shape {arr.shape}, expected {N_IGBP} values")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{arr.dtype.kind!r}-kind values, expected numbers")
    return arr


def _probabilities(value: object, sum_tolerance: float) -> np.ndarray:
    """The 17 fractions of one entry as float64, or ValueError naming what is wrong."""
    arr = _as_array(value)
    out = arr.astype(np.float64)  # 17
    if not np.all(np.isfinite(out)):
        raise ValueError("non-finite value (NaN or Inf)")
    if out.min() < 0.0 or out.max() > 1.0:
        raise ValueError(f"value outside [0, 1] ({out.min():.6g} .. {out.max():.6g})")
    total = float(out.sum())
    if abs(total - 1.0) > sum_tolerance:
        raise ValueError(f"values sum to {total:.6g}, expected 1 (±{sum_tolerance:g})")
    return out


@dataclass(frozen=True)
class ProbabilityPickle:
    """The usable entries of a probability pickle, and why the others were skipped."""

    fractions: dict[PatchId, np.ndarray]  # id -> (17,) float64, sorted by id
    skipped: list[str] = field(default_factory=list)  # one line each, naming the key


def load_probability_pickle(
    path: str | Path, sum_tolerance: float = defaults.PROBABILITY_SUM_TOLERANCE
) -> ProbabilityPickle:
    """Load and validate ``IGBP_probability_labels.pkl``: patch id -> (17,) float64 fractions.
    Keys may be S2 file names (as distributed) or anything PatchId.parse takes.

    Raises DataError (one line naming the file) when the file is unsafe, unreadable, not a
    dict, empty or without a single usable entry. Bad entries (a key that names no patch, two
    keys naming one patch, a value that is not 17 finite fractions in [0, 1] summing to 1
    within ``sum_tolerance``) are skipped and listed in ``skipped``.
    """
    path = Path(path)
    data = load_restricted_pickle(path)
    if not isinstance(data, dict):
        raise DataError(
            path,
            f"expected a dict of S2 file name -> {N_IGBP} fractions, got a {type_name(data)}",
        )
    if not data:
        raise DataError(path, "the pickle holds no entries")
    skipped: list[str] = []
    keys_of: dict[PatchId, list[str]] = {}
    for key in data:
        if not isinstance(key, str):
            skipped.append(f"{_show_key(key)}: key is a {type_name(key)}, expected a file name")
            continue
        try:
            keys_of.setdefault(PatchId.parse(key), []).append(key)
        except ValueError:
            skipped.append(f"{_show_key(key)}: not a SEN12MS S2 file name")
    fractions: dict[PatchId, np.ndarray] = {}
    for pid in sorted(keys_of):
        keys = keys_of[pid]
        if len(keys) > 1:
            shown = ", ".join(_show_key(k) for k in keys)
            skipped.append(f"{shown}: {len(keys)} keys name the same patch {pid}")
            continue
        try:
            fractions[pid] = _probabilities(data[keys[0]], sum_tolerance)
        except ValueError as exc:
            skipped.append(f"{_show_key(keys[0])}: {exc}")
    if not fractions:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise DataError(path, f"no usable entry: {skipped[0]}{more}")
    return ProbabilityPickle(fractions, skipped)


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
        diff = np.abs(as_igbp17(from_lc[pid]) - as_igbp17(from_pickle[pid]))  # 17
        worst = int(np.argmax(diff))
        if diff[worst] > tolerance:
            disagreements.append(Disagreement(pid, float(diff[worst]), worst + 1))
    return ProbabilityComparison(len(from_lc) - len(missing), disagreements, missing)
