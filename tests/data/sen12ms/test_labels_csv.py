from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sensormoco.data.sen12ms.labels import LabelRow, label_rows
from sensormoco.data.sen12ms.labels_csv import csv_columns, read_labels_csv, write_labels_csv
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.errors import DataError


def fractions17(counts: dict[int, int], total: int = 100) -> np.ndarray:
    out = np.zeros(17)
    for code, n in counts.items():
        out[code - 1] = n / total
    return out


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
