"""BigEarthNet-MM reader tests on the six real S1/S2 example pairs shipped in the PyPI package
bigearthnet-common, plus small fake folders (tests/data/bigearthnet_fake.py) for error paths."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.enums import Resampling
from torch.nn import functional as F

from sensormoco.data.bigearthnet.labels import (
    CLASSES_19,
    CLASSES_43,
    MERGE_19,
    labels_43,
    read_metadata,
    to_19,
)
from sensormoco.data.bigearthnet.v1 import (
    band_file,
    metadata_file,
    read_s1,
    read_s2,
    read_split_csv,
    scan_pairs,
    select_split,
    upsample_bilinear,
)
from sensormoco.errors import DataError
from tests.data.bigearthnet_fake import write_pair, write_s1_patch, write_s2_patch

PAIRS = {  # S1 folder -> S2 folder, as the S1 JSONs name them
    "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_87_48": "S2A_MSIL2A_20170613T101031_87_48",
    "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_36_85": "S2A_MSIL2A_20170617T113321_36_85",
    "S1A_IW_GRDH_1SDV_20170617T064724_29UPU_4_55": "S2A_MSIL2A_20170617T113321_4_55",
    "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24": "S2B_MSIL2A_20170924T93020_69_24",
    "S1A_IW_GRDH_1SDV_20171221T064238_29SND_56_35": "S2A_MSIL2A_20171221T112501_56_35",
    "S1A_IW_GRDH_1SDV_20180204T043253_35VPK_57_38": "S2B_MSIL2A_20180204T94161_57_38",
}
S1_87_48, S2_87_48 = next(iter(PAIRS.items()))
ORDER = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12")


@pytest.fixture
def ben_copy(ben: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the example roots that a test may break."""
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    shutil.copytree(ben[0], s1)
    shutil.copytree(ben[1], s2)
    return s1, s2


def _raw(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        data: np.ndarray = src.read(1).astype(np.float32)
    return data


def test_s2_has_12_bands_in_order_on_the_10m_grid(ben: tuple[Path, Path]) -> None:
    folder = ben[1] / S2_87_48
    s2 = read_s2(folder)
    assert s2.shape == (12, 120, 120)
    assert s2.dtype == np.float32
    for channel, band in enumerate(ORDER):
        raw = _raw(band_file(folder, band))
        native = 120 if band in ("B2", "B3", "B4", "B8") else 20 if band in ("B1", "B9") else 60
        assert raw.shape == (native, native)
        # bilinear, pixel centres aligned: exactly torch's align_corners=False
        expected = F.interpolate(
            torch.from_numpy(raw)[None, None], size=(120, 120), mode="bilinear", align_corners=False
        )[0, 0].numpy()
        np.testing.assert_allclose(s2[channel], expected, rtol=0, atol=1e-2, err_msg=band)
    np.testing.assert_array_equal(s2[1], _raw(band_file(folder, "B2")))  # 10 m: as stored
    # GDAL's bilinear read (torchgeo's loader) agrees up to its rounding to whole units
    with rasterio.open(band_file(folder, "B5")) as src:
        gdal = src.read(1, out_shape=(120, 120), resampling=Resampling.bilinear)
    assert np.abs(gdal.astype(np.float32) - s2[4]).max() <= 0.5


def test_s2_band_subset_by_name(ben: tuple[Path, Path]) -> None:
    folder = ben[1] / S2_87_48
    rgb = read_s2(folder, "s2-rgb")
    np.testing.assert_array_equal(rgb, read_s2(folder)[[3, 2, 1]])
    with pytest.raises(ValueError, match=r"BigEarthNet has no band\(s\) \['B10'\]"):
        read_s2(folder, "s2-all")


def test_s1_is_vv_then_vh(ben: tuple[Path, Path]) -> None:
    folder = ben[0] / S1_87_48
    s1 = read_s1(folder)
    assert s1.shape == (2, 120, 120)
    assert s1.dtype == np.float32
    np.testing.assert_array_equal(s1[0], _raw(folder / f"{S1_87_48}_VV.tif"))
    np.testing.assert_array_equal(s1[1], _raw(folder / f"{S1_87_48}_VH.tif"))
    assert s1[0].mean() > s1[1].mean()  # VV backscatter exceeds VH (dB)


def test_upsampling_keeps_a_ramp_and_a_constant() -> None:
    ramp = np.tile(1000 + 100 * np.arange(60, dtype=np.float32), (60, 1))  # 20 m band
    up = upsample_bilinear(ramp)
    centres = (np.arange(120) + 0.5) / 2 - 0.5  # 10 m pixel centres in 20 m pixel units
    np.testing.assert_allclose(up[7, 1:-1], 1000 + 100 * centres[1:-1], atol=1e-3)
    assert up[7, 0] == 1000  # edges clamp: no extrapolation
    assert upsample_bilinear(np.full((20, 20), 7, np.uint16)).tolist() == [[7.0] * 120] * 120


def test_class_lists_and_mapping_match_the_published_ones() -> None:
    constants = pytest.importorskip("bigearthnet_common.constants")
    assert constants.OLD_LABELS_ORIGINAL_ORDER == CLASSES_43
    assert constants.NEW_LABELS_ORIGINAL_ORDER == CLASSES_19
    for new, group in enumerate(MERGE_19):
        for old in group:
            assert constants.OLD2NEW_LABELS_DICT[CLASSES_43[old]] == CLASSES_19[new]
    merged = {old for group in MERGE_19 for old in group}
    assert {CLASSES_43[i] for i in range(43) if i not in merged} == {
        k for k, v in constants.OLD2NEW_LABELS_DICT.items() if v is None
    }


def test_real_labels_43_to_19(ben: tuple[Path, Path]) -> None:
    def active(vector: np.ndarray, names: tuple[str, ...]) -> set[str]:
        return {names[i] for i in np.flatnonzero(vector)}

    meta = read_metadata(metadata_file(ben[1] / S2_87_48), "s2")
    v43 = labels_43(meta.labels)
    assert set(np.flatnonzero(v43)) == {11, 20}
    assert active(to_19(v43), CLASSES_19) == {
        "Arable land",
        "Land principally occupied by agriculture, with significant areas of natural vegetation",
    }
    meta = read_metadata(metadata_file(ben[1] / "S2B_MSIL2A_20170924T93020_69_24"), "s2")
    v43 = labels_43(meta.labels)  # coniferous, mixed, transitional, peatbogs, water bodies
    assert set(np.flatnonzero(v43)) == {23, 24, 28, 34, 39}
    assert set(np.flatnonzero(to_19(v43))) == {9, 10, 13, 15, 17}
    assert active(to_19(v43), CLASSES_19) == {
        "Coniferous forest", "Mixed forest", "Transitional woodland, shrub", "Inland wetlands",
        "Inland waters",
    }  # fmt: skip
    dropped = labels_43(["Bare rock", "Burnt areas", "Intertidal flats", "Airports"])
    assert to_19(dropped).sum() == 0
    assert to_19(np.stack([v43, dropped])).shape == (2, 19)


def test_lenient_json_lly_and_lry(ben: tuple[Path, Path]) -> None:
    s1_json, s2_json = metadata_file(ben[0] / S1_87_48), metadata_file(ben[1] / S2_87_48)
    assert "lly" in json.loads(s1_json.read_text())["coordinates"]
    assert "lry" in json.loads(s2_json.read_text())["coordinates"]
    s1, s2 = read_metadata(s1_json, "s1"), read_metadata(s2_json, "s2")
    assert s1.labels == s2.labels
    assert s1.corresponding_s2_patch == S2_87_48
    assert s2.corresponding_s2_patch is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "not readable JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"labels": "Pastures", "corresponding_s2_patch": "S2A_x"}', "list of strings"),
        ('{"labels": ["Pastures"]}', "corresponding_s2_patch"),
        ('{"labels": ["Pastures", "Moon dust"], "corresponding_s2_patch": "S2A_x"}',
         "unknown BigEarthNet label 'Moon dust'"),
    ],
)  # fmt: skip
def test_bad_json_names_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "x_labels_metadata.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=problem) as info:
        read_metadata(path, "s1")
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_pairs_the_six_real_examples(ben: tuple[Path, Path]) -> None:
    scan = scan_pairs(*ben)
    assert scan.skipped == 0
    assert {r.s1_name: r.s2_name for r in scan.records} == PAIRS
    assert [r.s1_name for r in scan.records] == sorted(PAIRS)
    assert all(r.s2_dir.parent == ben[1] for r in scan.records)
    assert scan.summary() == "6 S1 folder(s): 6 paired, 0 skipped"


def test_s1_without_its_s2_is_reported_not_dropped(ben_copy: tuple[Path, Path]) -> None:
    s1_root, s2_root = ben_copy
    shutil.rmtree(s2_root / "S2B_MSIL2A_20170924T93020_69_24")
    scan = scan_pairs(s1_root, s2_root)
    assert len(scan.records) == 5
    assert scan.skipped == 1
    (problem,) = scan.problems
    assert problem.kind == "unpaired"
    assert problem.source == str(s1_root / "S1A_IW_GRDH_1SDV_20170925T043256_35VPK_69_24")
    assert "S2B_MSIL2A_20170924T93020_69_24" in str(problem)
    assert scan.summary() == "6 S1 folder(s): 5 paired, 1 skipped (unpaired: 1)"


def test_scan_reports_bad_json_labels_missing_bands_and_duplicates(tmp_path: Path) -> None:
    s1_root, s2_root = tmp_path / "s1", tmp_path / "s2"
    write_pair(s1_root, s2_root, 1)
    s1_bad, _ = write_pair(s1_root, s2_root, 2)
    metadata_file(s1_bad).write_text("{oops", encoding="utf-8")
    write_pair(s1_root, s2_root, 3, labels=["Moon dust"])
    _, s2_gap = write_pair(s1_root, s2_root, 4)
    band_file(s2_gap, "B8A").unlink()
    claims_1_1 = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_9_9"
    write_s1_patch(s1_root, claims_1_1, "S2A_MSIL2A_20170613T101031_1_1")
    scan = scan_pairs(s1_root, s2_root)
    assert [r.s2_name for r in scan.records] == ["S2A_MSIL2A_20170613T101031_1_1"]
    assert sorted(p.kind for p in scan.problems) == ["duplicate", "json", "labels", "missing"]
    duplicate = next(p for p in scan.problems if p.kind == "duplicate")
    assert duplicate.source == str(s1_root / claims_1_1)  # the first claimant (by name) keeps it
    assert all("\n" not in str(p) for p in scan.problems)
    missing = next(p for p in scan.problems if p.kind == "missing")
    assert missing.source == str(s2_gap)
    assert "B8A" in missing.problem


def test_missing_band_file_names_folder_and_band(ben_copy: tuple[Path, Path]) -> None:
    folder = ben_copy[1] / S2_87_48
    band_file(folder, "B5").unlink()
    with pytest.raises(DataError, match=r"no B5 band file \(.*_B05\.tif\)") as info:
        read_s2(folder)
    assert info.value.source == str(folder)
    assert info.value.kind == "missing"
    (ben_copy[0] / S1_87_48 / f"{S1_87_48}_VH.tif").unlink()
    with pytest.raises(DataError, match="no VH band file"):
        read_s1(ben_copy[0] / S1_87_48)


def test_wrong_band_shape_names_the_band_file(tmp_path: Path) -> None:
    wrong = np.zeros((120, 120), np.uint16)  # a 20 m band at 10 m size
    folder = write_s2_patch(tmp_path, "S2A_MSIL2A_20170613T101031_5_5", bands={"B5": wrong})
    shape = r"1 x 120 x 120 pixels, expected 1 x 60 x 60 for B5"
    with pytest.raises(DataError, match=shape) as info:
        read_s2(folder)
    assert info.value.source == str(band_file(folder, "B5"))
    floats = np.zeros((60, 60), np.float32)
    folder = write_s2_patch(tmp_path, "S2A_MSIL2A_20170613T101031_6_6", bands={"B6": floats})
    with pytest.raises(DataError, match="dtype float32, expected uint16"):
        read_s2(folder)


def test_split_csv(tmp_path: Path, ben: tuple[Path, Path]) -> None:
    path = tmp_path / "test.csv"
    rows = [f"{s2},{s1}" for s1, s2 in PAIRS.items()]
    path.write_text("s2_name,s1_name\n" + "\n".join(rows[:3]) + "\n\n", encoding="utf-8")
    pairs = read_split_csv(path)
    assert pairs == [(PAIRS[s1], s1) for s1 in list(PAIRS)[:3]]
    records, absent = select_split(scan_pairs(*ben).records, [*pairs, ("S2A_x", "S1A_y")])
    assert [(r.s2_name, r.s1_name) for r in records] == pairs
    assert absent == [("S2A_x", "S1A_y")]
    path.write_text("\n".join(rows[:3]) + "\n", encoding="utf-8")  # the official: no header
    assert read_split_csv(path) == pairs


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("S2A_a,S1A_a\nS2A_b\n", 2),  # one column
        ("S2A_a,S1A_a\nS1A_b,S2A_b\n", 2),  # columns swapped
        ("S2A_a,S1A_a\ns2_name,s1_name\n", 2),  # a header after data
        ("S2A_a,S1A_a,extra\n", 1),
        ("S2A_a,S1A_a\nS2A_a,S1A_c\n", 2),  # an S2 patch listed twice
    ],
)
def test_bad_split_lines_name_file_and_line(tmp_path: Path, text: str, line: int) -> None:
    path = tmp_path / "train.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}:{line}: "):
        read_split_csv(path)
