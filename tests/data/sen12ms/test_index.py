from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.sen12ms.index import build_index, read_index_csv, restrict, write_index_csv
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError


@pytest.fixture
def mixed_tree(tmp_path: Path, make_triplet) -> Path:
    """Three good triplets, one missing its s1, one with a broken s2, one all-NaN s1, one with
    a few NaNs (usable)."""
    for p in (1, 2, 3):
        make_triplet(tmp_path, f"ROIs1158_spring_1_p{p}", seed=p)
    make_triplet(tmp_path, "ROIs1158_spring_1_p4", s1=None)
    pid = make_triplet(tmp_path, "ROIs1868_summer_5_p1")
    (tmp_path / pid.relpath("s2")).write_bytes(b"II*\x00garbage")
    make_triplet(tmp_path, "ROIs1970_fall_2_p7", s1=np.full((2, 16, 16), np.nan, np.float32))
    s1 = np.full((2, 16, 16), -10.0, np.float32)
    s1[0, :2, :3] = np.nan
    make_triplet(tmp_path, "ROIs2017_winter_3_p1", s1=s1)
    return tmp_path


def test_index_lists_every_bad_triplet_and_counts(mixed_tree: Path) -> None:
    index = build_index(mixed_tree)
    assert len(index.records) == 7
    assert [str(r.patch_id) for r in index.bad] == [
        "ROIs1158_spring_1_p4", "ROIs1868_summer_5_p1", "ROIs1970_fall_2_p7",
    ]  # fmt: skip
    assert [r.kind for r in index.bad] == ["missing", "unreadable", "nan"]
    nan_patch = next(r for r in index.usable if r.patch_id.season == "ROIs2017_winter")
    assert nan_patch.s1_nonfinite == 6
    summary = index.summary()
    assert "7 patch ids: 4 usable, 3 bad (missing: 1, nan: 1, unreadable: 1)" in summary
    assert "6 non-finite S1 pixel(s) in 1 patch(es)" in summary


def test_headers_only_skips_pixel_checks(mixed_tree: Path) -> None:
    index = build_index(mixed_tree, read_pixels=False)
    assert [r.kind for r in index.bad] == ["missing", "unreadable"]


def test_index_csv_round_trip(mixed_tree: Path, tmp_path: Path) -> None:
    index = build_index(mixed_tree)
    write_index_csv(index, tmp_path / "out" / "index.csv")
    back = read_index_csv(tmp_path / "out" / "index.csv", mixed_tree)
    assert [(r.patch_id, r.ok, r.kind, r.bounds, r.crs, r.paths) for r in back.records] == [
        (r.patch_id, r.ok, r.kind, r.bounds, r.crs, r.paths) for r in index.records
    ]


def test_parallel_scan_equals_serial(mixed_tree: Path) -> None:
    serial = build_index(mixed_tree, workers=0)
    parallel = build_index(mixed_tree, workers=2)
    assert [(r.patch_id, r.reason) for r in serial.records] == [
        (r.patch_id, r.reason) for r in parallel.records
    ]


def test_read_index_rejects_other_csv(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a sensormoco index"):
        read_index_csv(tmp_path / "x.csv", tmp_path)


def test_restrict_reports_absent_ids(mixed_tree: Path) -> None:
    index = build_index(mixed_tree, read_pixels=False)
    wanted = [PatchId.parse("ROIs1158_spring_1_p2"), PatchId.parse("ROIs1158_spring_9_p9")]
    sub, absent = restrict(index, wanted)
    assert [str(r.patch_id) for r in sub.records] == ["ROIs1158_spring_1_p2"]
    assert absent == [wanted[1]]
