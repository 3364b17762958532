from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from sensormoco import defaults
from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms.labels import (
    IGBP_NAMES,
    IGBP_TO_SIMPLIFIED,
    SCHEMES,
    SIMPLIFIED_NAMES,
    igbp_fractions,
    label_rows,
    multi_label,
    read_lc_fractions,
    read_many_lc_fractions,
    single_label,
    to_scheme,
)
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError

TRANSFORM = Affine(10, 0, 500000, 0, -10, 5000000)
PID = PatchId.parse("ROIs1158_spring_1_p1")


def layer(counts: dict[int, int], side: int | tuple[int, int] = 10) -> np.ndarray:
    """A side x side (or H x W) IGBP layer holding ``count`` pixels of each code (row-major)."""
    shape = (side, side) if isinstance(side, int) else side
    flat = np.concatenate([np.full(n, code, np.uint16) for code, n in counts.items()])
    assert flat.size == shape[0] * shape[1]
    return flat.reshape(shape)


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


@pytest.mark.parametrize(
    ("counts", "shape", "single17", "single10"),
    [
        # 10 valid pixels (2 invalid): Forest = 3/10 = 0.3 and Croplands = 1/10 + 2/10 =
        # 0.30000000000000004 tie exactly; a plain argmax picks Croplands (6).
        ({1: 3, 12: 1, 14: 2, 10: 2, 16: 2, 0: 2}, (3, 4), 1, 1),
        # 12 valid pixels: Shrubland = 1/12 + 4/12 = 0.41666666666666663 (the sum rounds down)
        # and Grassland = 5/12 = 0.4166666666666667: a tie only in igbp10, with counts that are
        # no powers of two; a plain argmax picks Grassland (4).
        ({6: 1, 7: 4, 10: 5, 17: 2}, (3, 4), 10, 2),
        # The same sum for Croplands = 1/12 + 4/12 against Urban = 5/12; a plain argmax
        # picks Urban (7). igbp17 has Urban (13) largest, with no tie.
        ({12: 1, 14: 4, 13: 5, 17: 2}, (3, 4), 13, 6),
    ],
)
def test_ties_do_not_depend_on_the_summation_order(
    counts: dict[int, int], shape: tuple[int, int], single17: int, single10: int
) -> None:
    frac, invalid = igbp_fractions(layer(counts, side=shape))
    assert invalid == counts.get(0, 0)
    assert single_label(frac) == single17
    assert single_label(to_scheme(frac, "igbp10")) == single10
    assert [r.single for r in label_rows({PID: frac}, "igbp17")] == [single17]
    assert [r.single for r in label_rows({PID: frac}, "igbp10")] == [single10]


def test_ties_within_eps_of_the_maximum() -> None:
    assert single_label(np.array([0.1, 0.0999999999, 0.1, 0.1000000001])) == 1
    assert single_label(np.array([0.1, 0.1 + 1e-8])) == 2  # beyond eps: a genuine difference
    assert single_label(np.full(17, 1 / 17)) == 1


@pytest.mark.parametrize("scheme", ["igbp10", "igbp17"])
def test_threshold_does_not_depend_on_the_summation_order(scheme: str) -> None:
    # 60 valid pixels: Croplands = 1/60 + 5/60 = 0.09999999999999999, exactly 10 %
    frac, _ = igbp_fractions(layer({12: 1, 14: 5, 17: 54}, side=(6, 10)))
    expected = {"igbp10": (6, 10), "igbp17": (17,)}[scheme]  # igbp17: 1/60 and 5/60 < 0.1
    assert multi_label(to_scheme(frac, scheme), 0.1) == expected
    assert [r.multi for r in label_rows({PID: frac}, scheme, 0.1)] == [expected]


def test_eps_is_far_below_any_genuine_difference() -> None:
    # Two fractions count/n differ by >= 1/n; a SEN12MS patch has n <= 2**16.
    assert 1e4 * defaults.LABEL_EPS < 1 / 2**16
    assert 1e-5 * defaults.LABEL_EPS > 17 * 2.0**-53  # rounding error of a sum of 17 fractions
    assert multi_label(
        np.array([0.1 - defaults.LABEL_EPS / 2, 0.1 - 2 * defaults.LABEL_EPS]), 0.1
    ) == (1,)


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
