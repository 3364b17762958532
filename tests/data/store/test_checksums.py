"""checksums.csv: written and parsed alike, per-chunk hashes of array rows."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.store.arrays import ArraySpec, npy_header
from sensormoco.data.store.checksums import (
    ChunkSums,
    checksums_csv,
    hash_rows,
    parse_checksums,
    sha256_file,
)
from sensormoco.errors import DataError


def test_checksums_csv_round_trips(tmp_path: Path) -> None:
    first, second = {"s1": "a", "s2": "b"}, {"s1": "c", "s2": "d"}
    chunks = [ChunkSums(0, 0, 3, first), ChunkSums(1, 3, 2, second)]
    text = checksums_csv(chunks, ["s1", "s2"])
    assert text.splitlines()[0] == "chunk,first_row,rows,s1,s2"
    path = tmp_path / "checksums.csv"
    path.write_text(text)
    assert parse_checksums(path, csv.DictReader(text.splitlines())) == chunks
    with pytest.raises(DataError, match=r"checksums\.csv: malformed row"):
        parse_checksums(path, [{"chunk": "0", "first_row": "x", "rows": "1"}])


def test_rows_are_hashed_as_their_bytes(tmp_path: Path) -> None:
    spec = ArraySpec("igbp", "<f8", (17,))
    rows = np.random.default_rng(0).random((5, 17))  # 5 x 17
    path = tmp_path / spec.file
    path.write_bytes(npy_header(spec, 5) + rows.tobytes())
    fd = os.open(path, os.O_RDONLY)
    try:
        assert hash_rows(fd, spec, 1, 3) == hashlib.sha256(rows[1:4].tobytes()).hexdigest()
        assert hash_rows(fd, spec, 0, 0) == hashlib.sha256(b"").hexdigest()
    finally:
        os.close(fd)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
