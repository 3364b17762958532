"""The arrays of a packed store: one ``.npy`` file each, with a fixed-size header so a pack
can rewrite the row count in place, read and written by row with ``os.pread``/``os.pwrite``.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensormoco.errors import DataError

NPY_HEADER_BYTES = 128  # fixed, so packing can rewrite the row count in place
_NPY_MAGIC = b"\x93NUMPY\x01\x00"


@dataclass(frozen=True)
class ArraySpec:
    """One array of the store: its file, dtype, the shape of one row and its band names."""

    name: str
    dtype: str  # numpy dtype string, little-endian: "<f4", "<u2", "<f8"
    row_shape: tuple[int, ...]
    bands: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return f"{self.name}.npy"

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.row_shape)) * np.dtype(self.dtype).itemsize

    def row_offset(self, row: int) -> int:
        """Where row ``row`` starts in the file."""
        return NPY_HEADER_BYTES + row * self.row_bytes

    def describe(self, rows: int) -> dict[str, Any]:
        """The manifest's entry for this array with ``rows`` rows."""
        shape = [rows, *self.row_shape]
        return {"file": self.file, "dtype": self.dtype, "shape": shape, "bands": list(self.bands)}


def npy_header(spec: ArraySpec, rows: int) -> bytes:
    """A ``.npy`` (format 1.0) header of exactly NPY_HEADER_BYTES for ``rows`` rows."""
    shape = (rows, *spec.row_shape)
    text = repr({"descr": spec.dtype, "fortran_order": False, "shape": shape}).encode("latin1")
    body = NPY_HEADER_BYTES - len(_NPY_MAGIC) - 2
    return _NPY_MAGIC + struct.pack("<H", body) + text.ljust(body - 1) + b"\n"


def read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """Shape, dtype and data offset of a ``.npy`` file, or a DataError naming it."""
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            if version != (1, 0):
                raise ValueError(f"npy format {version}, expected (1, 0)")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            if fortran:
                raise ValueError("Fortran order")
            return tuple(shape), dtype, f.tell()
    except FileNotFoundError as exc:
        raise DataError(path, "missing array file of the store", "missing") from exc
    except (OSError, ValueError) as exc:
        raise DataError(path, f"not a store array ({exc})", "unreadable") from exc


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of ``data`` at ``offset`` (``os.pwrite`` may write less than asked)."""
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
