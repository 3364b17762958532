"""SEN12MS's precomputed scene labels, ``IGBP_probability_labels.pkl``, loaded safely.

The file is a dict: S2 file name (``ROIs1158_spring_s2_1_p30.tif``) -> 17 IGBP fractions, as a
list or a numpy array. A pickle can run arbitrary code when loaded, so it is read with an
unpickler that resolves only the few globals that dicts, lists, strings, numbers and numpy
arrays need; anything else is refused before it is imported or called.
"""

from __future__ import annotations

import codecs
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco import defaults
from sensormoco.data.sen12ms import PatchId
from sensormoco.errors import DataError

N_CLASSES = 17


def _numpy_module(name: str) -> Any:
    """``numpy._core.<name>`` (numpy 2), else ``numpy.core.<name>`` (numpy 1)."""
    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # numpy < 1.26 has no numpy._core
        return importlib.import_module(f"numpy.core.{name}")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    multiarray, numeric = _numpy_module("multiarray"), _numpy_module("numeric")
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,  # bytes in protocols 0-2
    }
    # numpy 1 and numpy 2 spell the module differently; both map to this numpy's objects.
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer  # protocol 5
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; refuses every other one without importing it."""

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="latin1")  # latin1: numpy arrays pickled by Python 2
        self._source = source
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None:
            raise DataError(
                self._source,
                f"refused to load global {module}.{name}: the pickle may run code; only dicts, "
                "lists, strings, numbers and numpy arrays are allowed",
                kind="unsafe",
            )
        return found


def _load(path: Path) -> object:
    if not path.is_file():
        raise DataError(path, "file not found", "missing")
    try:
        with path.open("rb") as f:
            return _RestrictedUnpickler(f, path).load()
    except DataError:
        raise
    except EOFError as exc:
        raise DataError(path, "empty or truncated pickle", "unreadable") from exc
    except Exception as exc:  # any malformed byte stream must end in one line, not a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(path, f"not a readable pickle ({first})", "unreadable") from exc


def _type_name(value: object) -> str:
    return type(value).__name__


def _probabilities(value: object, tolerance: float) -> np.ndarray:
    """The 17 fractions of one entry as float64, or ValueError naming what is wrong."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        raise ValueError(f"expected {N_CLASSES} numbers, got a {_type_name(value)}")
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"expected {N_CLASSES} numbers, got a nested sequence") from exc
    if arr.shape != (N_CLASSES,):
        got = f"{arr.shape[0]}" if arr.ndim == 1 else f"shape {arr.shape}"
        raise ValueError(f"expected {N_CLASSES} numbers, got {got}")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"expected {N_CLASSES} numbers, got {arr.dtype.kind!r}-kind values")
    out = arr.astype(np.float64)  # 17
    if not np.all(np.isfinite(out)):
        raise ValueError("non-finite value (NaN or Inf)")
    if out.min() < 0.0 or out.max() > 1.0:
        raise ValueError(f"value outside [0, 1] ({out.min():.6g} .. {out.max():.6g})")
    total = float(out.sum())
    if abs(total - 1.0) > tolerance:
        raise ValueError(f"values sum to {total:.6g}, expected 1 (±{tolerance:g})")
    return out


def load_probability_pickle(
    path: str | Path, tolerance: float = defaults.PROBABILITY_TOLERANCE
) -> dict[PatchId, np.ndarray]:
    """Load and validate ``IGBP_probability_labels.pkl``: patch id -> (17,) float64 fractions
    (sorted by id). Keys may be S2 file names (as distributed) or anything PatchId.parse takes.

    Raises DataError (one line naming the file and the first bad key, plus how many more) for
    unsafe, unreadable or malformed files.
    """
    path = Path(path)
    data = _load(path)
    if not isinstance(data, dict):
        raise DataError(
            path, f"expected a dict of S2 file name -> {N_CLASSES} fractions, got a "
            f"{_type_name(data)}",
        )  # fmt: skip
    if not data:
        raise DataError(path, "the pickle holds no entries")
    out: dict[PatchId, np.ndarray] = {}
    key_of: dict[PatchId, object] = {}
    problems: list[str] = []
    for key, value in data.items():
        if not isinstance(key, str):
            problems.append(f"key {key!r} is a {_type_name(key)}, expected an S2 file name")
            continue
        try:
            pid = PatchId.parse(key)
        except ValueError:
            problems.append(f"key {key!r} is not a SEN12MS S2 file name")
            continue
        if pid in key_of:
            problems.append(f"keys {key_of[pid]!r} and {key!r} name the same patch {pid}")
            continue
        key_of[pid] = key
        try:
            out[pid] = _probabilities(value, tolerance)
        except ValueError as exc:
            problems.append(f"entry {key!r}: {exc}")
    if problems:
        more = f" (and {len(problems) - 1} more bad entries)" if len(problems) > 1 else ""
        raise DataError(path, problems[0] + more)
    return {pid: out[pid] for pid in sorted(out)}
