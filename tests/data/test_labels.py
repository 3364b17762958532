from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sensormoco.data.geotiff import write_raster
from sensormoco.data.labels import (
    IGBP_NAMES,
    IGBP_TO_SIMPLIFIED,
    SCHEMES,
    SIMPLIFIED_NAMES,
    LabelRow,
    csv_columns,
    igbp_fractions,
    label_rows,
    multi_label,
    read_labels_csv,
    read_lc_fractions,
    read_many_lc_fractions,
    single_label,
    to_scheme,
    write_labels_csv,
)
from sensormoco.data.sen12ms import PatchId
from sensormoco.errors import DataError

TRANSFORM = Affine(10, 0, 500000, 0, -10, 5000000)


def layer(counts: dict[int, int], side: int = 10) -> np.ndarray:
    """A side x side IGBP layer holding ``count`` pixels of each code (row-major)."""
    flat = np.concatenate([np.full(n, code, np.uint16) for code, n in counts.items()])
    assert flat.size == side * side
    return flat.reshape(side, side)


def write_lc(path: Path, layer1: np.ndarray) -> Path:
    """A 4-band lc GeoTIFF whose layer 1 is ``layer1``; layers 2-4 hold unrelated codes."""
    other = np.full((3, *layer1.shape), 40, dtype=layer1.dtype)
    write_raster(path, np.concatenate([layer1[None], other]), "EPSG:32633", TRANSFORM)
    return path


def fractions17(counts: dict[int, int], total: int = 100) -> np.ndarray:
    out = np.zeros(17)
    for code, n in counts.items():
        out[code - 1] = n / total
    return out


def test_tables_follow_the_design() -> None:
    assert len(IGBP_NAMES) == 17
    assert IGBP_NAMES[13] == "Cropland/natural vegetation mosaic"
    assert len(SIMPLIFIED_NAMES) == 10
    assert SCHEMES == {"igbp17": IGBP_NAMES, "igbp10": SIMPLIFIED_NAMES}
    groups: dict[int, list[int]] = {}
    for code, simple in IGBP_TO_SIMPLIFIED.items():
        groups.setdefault(simple, []).append(code)
    assert groups == {
        1: [1, 2, 3, 4, 5], 2: [6, 7], 3: [8, 9], 4: [10], 5: [11], 6: [12, 14], 7: [13],
        8: [15], 9: [16], 10: [17],
    }  # fmt: skip


def test_fractions_from_a_geotiff_are_exact(tmp_path: Path) -> None:
    path = write_lc(tmp_path / "lc.tif", layer({1: 50, 12: 30, 17: 20}))
    frac, invalid = read_lc_fractions(path)
    assert invalid == 0
    assert frac.dtype == np.float64
    assert frac.shape == (17,)
    assert frac.tolist() == fractions17({1: 50, 12: 30, 17: 20}).tolist()
    assert to_scheme(frac, "igbp17").tolist() == frac.tolist()
    simple = to_scheme(frac, "igbp10")
    assert simple.tolist() == [0.5, 0, 0, 0, 0, 0.3, 0, 0, 0, 0.2]
    assert single_label(frac) == 1
    assert single_label(simple) == 1
    assert multi_label(frac, 0.1) == (1, 12, 17)
    assert multi_label(simple, 0.1) == (1, 6, 10)


def test_igbp10_sums_every_group(tmp_path: Path) -> None:
    # codes 1..5 take 10 px each (Forest 0.5), 6 and 7 take 5 each (Shrubland 0.1), and so on
    counts = {1: 10, 2: 10, 3: 10, 4: 10, 5: 10, 6: 5, 7: 5, 8: 2, 9: 2, 10: 6, 11: 3, 12: 4,
              13: 7, 14: 4, 15: 1, 16: 2, 17: 9}  # fmt: skip
    frac, _ = read_lc_fractions(write_lc(tmp_path / "lc.tif", layer(counts)))
    simple = to_scheme(frac, "igbp10")
    expected = [50, 10, 4, 6, 3, 8, 7, 1, 2, 9]
    np.testing.assert_allclose(simple, np.array(expected) / 100, rtol=0, atol=1e-15)
    assert single_label(simple) == 1
    assert multi_label(simple, 0.1) == (1, 2)


def test_ties_go_to_the_lowest_code_in_both_schemes() -> None:
    frac = fractions17({12: 50, 4: 50})
    assert single_label(frac) == 4
    assert single_label(to_scheme(frac, "igbp10")) == 1  # Forest (4) vs Croplands (12)


def test_tie_created_by_the_igbp10_summation() -> None:
    # Shrubland = 6 + 7 = 0.5 against Grasslands (10) = 0.5: only igbp10 ties
    frac, _ = igbp_fractions(layer({6: 25, 7: 25, 10: 50}))
    assert single_label(frac) == 10
    simple = to_scheme(frac, "igbp10")
    assert simple[1] == simple[3] == 0.5
    assert single_label(simple) == 2
    # Croplands = 12 + 14 against Water (17): the summed class has the lower code
    frac, _ = igbp_fractions(layer({17: 50, 12: 25, 14: 25}))
    assert single_label(frac) == 17
    assert single_label(to_scheme(frac, "igbp10")) == 6


def test_threshold_is_inclusive(tmp_path: Path) -> None:
    frac, _ = read_lc_fractions(write_lc(tmp_path / "lc.tif", layer({3: 10, 5: 9, 10: 81})))
    assert frac[2] == 0.1
    assert frac[4] == 0.09
    assert multi_label(frac, 0.1) == (3, 10)  # 0.1 kept, 0.09 dropped
    assert multi_label(to_scheme(frac, "igbp10"), 0.1) == (1, 4)  # Forest = 0.19
    assert multi_label(frac, 0.09) == (3, 5, 10)
    assert multi_label(frac, 0.82) == ()
    assert multi_label(np.array([0.1, 0.0999999, 0.10000001]), 0.1) == (1, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32])
def test_invalid_codes_are_counted_not_labelled(tmp_path: Path, dtype: type) -> None:
    codes: np.ndarray = layer({1: 40, 17: 40, 0: 10, 18: 5, 99: 5}).astype(dtype)
    if np.issubdtype(dtype, np.signedinteger):
        codes[0, 0] = -3  # also invalid; replaces one code-1 pixel
    frac, invalid = read_lc_fractions(write_lc(tmp_path / "lc.tif", codes))
    n_valid = 79 if np.issubdtype(dtype, np.signedinteger) else 80
    assert invalid == 100 - n_valid
    assert frac[0] == (n_valid - 40) / n_valid
    assert frac[16] == 40 / n_valid
    assert frac.sum() == pytest.approx(1.0)


def test_all_invalid_is_a_data_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no pixel has a valid IGBP code"):
        igbp_fractions(np.zeros((4, 4), np.uint16))
    path = write_lc(tmp_path / "zeros_lc.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(DataError, match=r"zeros_lc\.tif: no pixel has a valid IGBP code") as err:
        read_lc_fractions(path)
    assert err.value.kind == "labels"


def test_float_lc_and_missing_file_are_data_errors(tmp_path: Path) -> None:
    path = tmp_path / "float_lc.tif"
    write_raster(path, np.ones((4, 4, 4), np.float32), "EPSG:32633", TRANSFORM)
    with pytest.raises(DataError, match=r"float_lc\.tif: dtype float32"):
        read_lc_fractions(path)
    with pytest.raises(DataError, match="file not found"):
        read_lc_fractions(tmp_path / "absent.tif")


@pytest.mark.parametrize("workers", [0, 2])
def test_read_many_collects_errors(tmp_path: Path, workers: int) -> None:
    good, bad = PatchId.parse("ROIs1158_spring_1_p1"), PatchId.parse("ROIs1158_spring_1_p2")
    paths = {
        good: write_lc(tmp_path / "a.tif", layer({1: 90, 0: 10})),
        bad: write_lc(tmp_path / "b.tif", np.zeros((10, 10), np.uint16)),
    }
    result = read_many_lc_fractions(paths, workers)
    assert list(result.fractions) == [good]
    assert result.fractions[good][0] == 1.0
    assert result.invalid_pixels == {good: 10}
    assert list(result.errors) == [bad]
    assert "b.tif" in str(result.errors[bad])


def test_unknown_scheme_and_bad_shape() -> None:
    with pytest.raises(ValueError, match="unknown label scheme"):
        to_scheme(np.full(17, 1 / 17), "igbp19")
    with pytest.raises(ValueError, match="expected 17 IGBP fractions"):
        to_scheme(np.full(10, 0.1), "igbp10")


IDS = [
    PatchId.parse(t)
    for t in ("ROIs1970_fall_2_p7", "ROIs1158_spring_1_p30", "ROIs1158_spring_1_p4")
]


@pytest.mark.parametrize("scheme", ["igbp10", "igbp17"])
def test_labels_csv_round_trip_and_header(tmp_path: Path, scheme: str) -> None:
    by_id = {
        IDS[0]: fractions17({6: 25, 7: 25, 10: 50}),
        IDS[1]: fractions17({1: 1, 2: 2, 13: 97}, 100),
        IDS[2]: np.arange(1, 18) / 153,  # no class reaches 0.2: empty multi
    }
    rows = label_rows(by_id, scheme, threshold=0.2)
    assert [r.patch_id for r in rows] == sorted(IDS)
    assert rows[0].multi == ()
    path = tmp_path / "out" / "labels.csv"
    write_labels_csv(path, rows, scheme)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(",") == list(csv_columns(scheme))
    if scheme == "igbp10":
        assert lines[0] == (
            "patch_id,single,multi,frac_01_forest,frac_02_shrubland,frac_03_savanna,"
            "frac_04_grassland,frac_05_wetlands,frac_06_croplands,frac_07_urban_built_up,"
            "frac_08_snow_ice,frac_09_barren,frac_10_water"
        )
        assert lines[3].startswith("ROIs1970_fall_2_p7,2,2;4,0.0,0.5,0.0,0.5,")
    else:
        assert lines[0].split(",")[3:6] == [
            "frac_01_evergreen_needleleaf_forest", "frac_02_evergreen_broadleaf_forest",
            "frac_03_deciduous_needleleaf_forest",
        ]  # fmt: skip
        assert "frac_14_cropland_natural_vegetation_mosaic" in lines[0]
        assert lines[1].startswith("ROIs1158_spring_1_p4,17,,")
    back = read_labels_csv(path, scheme)
    assert [(r.patch_id, r.single, r.multi) for r in back] == [
        (r.patch_id, r.single, r.multi) for r in rows
    ]
    for a, b in zip(back, rows, strict=True):
        assert a.fractions.tolist() == b.fractions.tolist()  # bit-exact through repr


def test_read_labels_csv_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    rows = [LabelRow(IDS[1], 1, (1,), np.eye(10)[0]), LabelRow(IDS[2], 2, (2,), np.eye(10)[1])]
    write_labels_csv(path, rows, "igbp10")
    good = path.read_text(encoding="utf-8").splitlines()
    with pytest.raises(DataError, match="has igbp10 labels, expected igbp17"):
        read_labels_csv(path, "igbp17")
    for bad_line, message in [
        (good[2].replace(",2,2,", ",11,2,"), "class code outside 1..10"),
        (good[2].replace(",2,2,", ",2,4;2,"), "not ascending"),
        (good[2].rsplit(",", 1)[0], "12 field\\(s\\), expected 13"),
        (good[2].replace("ROIs1158", "nowhere"), "not a SEN12MS patch id"),
        (good[2].replace(",0.0", ",abc", 1), "could not convert"),
        (good[1], "duplicate patch id ROIs1158_spring_1_p30 \\(line 2\\)"),
    ]:
        path.write_text("\n".join([*good[:2], bad_line]) + "\n", encoding="utf-8")
        with pytest.raises(DataError, match=rf"labels\.csv:3: .*{message}") as err:
            read_labels_csv(path)
        assert "\n" not in str(err.value)
    path.write_text("id,label\nx,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"labels\.csv:1: not a labels CSV"):
        read_labels_csv(path)
