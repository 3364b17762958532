"""The store's array files: fixed-size .npy headers that numpy reads, positional writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.store.arrays import (
    NPY_HEADER_BYTES,
    ArraySpec,
    npy_header,
    pwrite_all,
    read_npy_header,
)
from sensormoco.errors import DataError

SPEC = ArraySpec("s1", "<f4", (2, 3, 3), ("VV", "VH"))


def test_a_header_is_fixed_size_and_numpy_reads_rows_written_after_it(tmp_path: Path) -> None:
    rows = np.arange(4 * 18, dtype="<f4").reshape(4, 2, 3, 3)  # 4 x 2 x 3 x 3
    path = tmp_path / SPEC.file
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        pwrite_all(fd, npy_header(SPEC, 4), 0)
        pwrite_all(fd, rows[2:].tobytes(), SPEC.row_offset(2))  # rows written out of order
        pwrite_all(fd, rows[:2].tobytes(), SPEC.row_offset(0))
    finally:
        os.close(fd)
    assert len(npy_header(SPEC, 10**9)) == NPY_HEADER_BYTES
    assert SPEC.row_bytes == 18 * 4
    assert read_npy_header(path) == ((4, 2, 3, 3), np.dtype("<f4"), NPY_HEADER_BYTES)
    np.testing.assert_array_equal(np.load(path), rows)
    assert SPEC.describe(4) == {
        "file": "s1.npy",
        "dtype": "<f4",
        "shape": [4, 2, 3, 3],
        "bands": ["VV", "VH"],
    }


def test_bad_array_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="missing array file of the store"):
        read_npy_header(tmp_path / "absent.npy")
    (tmp_path / "bad.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match=r"bad\.npy: not a store array"):
        read_npy_header(tmp_path / "bad.npy")
    np.save(tmp_path / "fortran.npy", np.asfortranarray(np.ones((2, 3))))
    with pytest.raises(DataError, match="Fortran order"):
        read_npy_header(tmp_path / "fortran.npy")
