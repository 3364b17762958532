"""Opening a packed store: its files, validation and reads (data/store/format.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.sen12ms.labels import N_IGBP
from sensormoco.data.store.format import (
    FORMAT_VERSION,
    MANIFEST,
    array_specs,
    is_store,
    open_store,
    partial_path,
    small_files,
)
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.errors import DataError


@pytest.fixture(scope="module")
def store(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("format") / "store"
    pack_sen12ms(synth_root, out, chunk_rows=32)
    return out


def test_an_opened_store_reads_rows_and_verifies(store: Path) -> None:
    opened = open_store(store)
    assert is_store(store)
    assert opened.version == FORMAT_VERSION
    assert opened.count == 72
    assert set(array_specs(32, 32)) == {"s1", "s2", "lc", "igbp"}
    assert opened.read("igbp", 5).shape == (N_IGBP,)
    np.testing.assert_array_equal(opened.read("s2", 7), opened.array("s2")[7])
    assert opened.verify() == []
    with pytest.raises(IndexError, match="row 72 out of range"):
        opened.read("s1", 72)


def test_a_tampered_manifest_or_small_file_is_a_one_line_error(store: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)
    with (copy / "ids.txt").open("a") as f:
        f.write("ROIs1158_spring_1_p999\n")
    with pytest.raises(DataError, match=r"ids\.txt: does not match its sha256"):
        open_store(copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps(manifest | {"version": 99}))
    with pytest.raises(DataError, match="format version 99"):
        open_store(copy)
    assert partial_path(copy) == tmp_path / "copy.partial"
    assert "rows.csv" not in small_files(1)
    assert "rows.csv" in small_files(2)
