"""The synthetic SEN12MS tree: layout, geometry, determinism and learnable shared structure."""

from __future__ import annotations

import pickle
import re
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

import sensormoco.data.sen12ms.synth as synth
import sensormoco.data.sen12ms.synth_scene as synth_scene
from sensormoco.cli.main import main
from sensormoco.data.geotiff import read_info, read_raster
from sensormoco.data.sen12ms.layout import SEASONS, PatchId, check_triplet, scan_tree
from sensormoco.data.sen12ms.splits import holdout_scenes, is_test
from sensormoco.data.sen12ms.synth import SynthConfig, plan_scenes, synthesize_sen12ms
from sensormoco.errors import DataError

TINY = SynthConfig(scenes=4, grid=3, size=32, seed=0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "sen12ms"
    summary = synthesize_sen12ms(root, TINY, probabilities=True)
    assert (summary.patches, summary.scenes, summary.test_scenes) == (36, 4, 1)
    return root


def _scenes(root: Path) -> dict[tuple[str, int], list[PatchId]]:
    groups: dict[tuple[str, int], list[PatchId]] = defaultdict(list)
    for pid in sorted(scan_tree(root).files):
        groups[(pid.season, pid.scene)].append(pid)
    return groups


def test_layout_and_every_triplet_valid(tiny: Path) -> None:
    scan = scan_tree(tiny)
    assert not scan.unrecognised
    assert len(scan.files) == 36
    scenes = _scenes(tiny)
    assert sorted(season for season, _ in scenes) == sorted(SEASONS)  # one scene per season
    for pid, files in scan.files.items():
        assert files == {s: tiny / pid.relpath(s) for s in ("s1", "s2", "lc")}
        record = check_triplet(tiny, pid, files)
        assert record.ok, record.reason
        assert (record.width, record.height) == (32, 32)
        assert record.dtypes == {"s1": "float32", "s2": "uint16", "lc": "uint16"}
        assert record.crs.startswith("EPSG:326")
    assert all(sorted(p.patch for p in ids) == list(range(1, 10)) for ids in scenes.values())
    assert (tiny / "ROIs1158_spring" / "s2_1" / "ROIs1158_spring_s2_1_p5.tif").is_file()


def test_patch_geometry_and_scene_placement(tiny: Path) -> None:
    extents = {}
    for key, ids in _scenes(tiny).items():
        info = {pid.patch: read_info(tiny / pid.relpath("s2")) for pid in ids}
        left, bottom, right, top = info[1].bounds
        assert (right - left, top - bottom) == (320.0, 320.0)  # 32 px at 10 m
        assert left >= 200_000
        assert right <= 800_000
        assert 1_000_000 <= bottom <= top <= 7_000_000
        # p2 is p1's right neighbour, p4 the one below: each overlaps by exactly half
        assert info[2].bounds == (left + 160, bottom, right + 160, top)
        assert info[4].bounds == (left, bottom - 160, right, top - 160)
        assert len({i.crs for i in info.values()}) == 1
        extents[key] = (info[1].crs, left, info[9].bounds[1], info[9].bounds[2], top)
    for (crs_a, *a), (crs_b, *b) in combinations(extents.values(), 2):
        disjoint = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
        assert crs_a != crs_b or disjoint


def test_scene_plan_numbers_holdouts_and_places() -> None:
    held = holdout_scenes()
    assert not any(p.test for p in plan_scenes(SynthConfig(scenes=3)))
    for scenes in (4, 32, 200):
        plans = plan_scenes(SynthConfig(scenes=scenes, grid=16, size=256))
        keys = [f"{p.season}/s1_{p.number}" for p in plans]
        assert len(set(keys)) == scenes  # numbers unique per season
        assert all((key in held) == p.test for key, p in zip(keys, plans, strict=True))
        assert 1 <= sum(p.test for p in plans) <= max(1, scenes // 8 + 1)
        extent = 17 * 128 * 10
        for a, b in combinations(plans, 2):
            if a.crs == b.crs:
                assert abs(a.x0 - b.x0) >= extent or abs(a.y0 - b.y0) >= extent
    seasons = {p.season for p in plan_scenes(SynthConfig(scenes=32)) if p.test}
    assert seasons == set(SEASONS)


def test_holdout_scene_present(tiny: Path) -> None:
    tests = {pid.scene_key for pid in scan_tree(tiny).files if is_test(pid)}
    assert len(tests) == 1
    assert tests <= holdout_scenes()


def test_pixel_values_and_lc_layers(tiny: Path) -> None:
    for pid in sorted(scan_tree(tiny).files)[::4]:
        s1, _ = read_raster(tiny / pid.relpath("s1"))
        s2, _ = read_raster(tiny / pid.relpath("s2"))
        lc, _ = read_raster(tiny / pid.relpath("lc"))
        assert s1.shape == (2, 32, 32)
        assert s2.shape == (13, 32, 32)
        assert lc.shape == (4, 32, 32)
        vv, vh = np.nanmedian(s1[0]), np.nanmedian(s1[1])
        assert -30 < vh < vv < 0
        assert s2.max() <= 10000
        assert s2.std() > 0
        assert lc[0].min() >= 1
        assert lc[0].max() <= 17
        table = np.array([synth_scene.LCCS_FROM_IGBP[c] for c in range(1, 18)])
        assert np.array_equal(lc[1:], table[lc[0].astype(int) - 1].transpose(2, 0, 1))


def _arrays(root: Path) -> dict[str, np.ndarray]:
    return {
        str(path.relative_to(root)): read_raster(path)[0] for path in sorted(root.rglob("*.tif"))
    }


def test_deterministic_per_seed_and_independent_of_workers(tmp_path: Path) -> None:
    config = SynthConfig(scenes=2, grid=2, size=16, seed=3)
    synthesize_sen12ms(tmp_path / "a", config)
    synthesize_sen12ms(tmp_path / "b", config, workers=2)
    synthesize_sen12ms(tmp_path / "c", SynthConfig(scenes=2, grid=2, size=16, seed=4))
    a, b, c = (_arrays(tmp_path / n) for n in "abc")
    assert a.keys() == b.keys() == c.keys()
    assert len(a) == 2 * 4 * 3
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not any(np.array_equal(a[n], c[n]) for n in a if "_s2_" in n)


def test_s1_and_s2_share_the_structure_of_their_place(synth_root: Path) -> None:
    ids = sorted(scan_tree(synth_root).files)
    r2_same: list[float] = []
    r2_other: list[float] = []
    corr_same: list[float] = []
    corr_other: list[float] = []
    for k, pid in enumerate(ids):
        other = ids[(k + len(ids) // 2) % len(ids)]  # another scene
        assert other.scene_key != pid.scene_key
        s2 = read_raster(synth_root / pid.relpath("s2"))[0].reshape(13, -1).T.astype(float)
        design = np.column_stack([s2, np.ones(len(s2))])  # HW x 14
        for s1_of, r2, corr in ((pid, r2_same, corr_same), (other, r2_other, corr_other)):
            vv = np.nan_to_num(read_raster(synth_root / s1_of.relpath("s1"))[0][0].ravel())
            residual = vv - design @ np.linalg.lstsq(design, vv, rcond=None)[0]
            r2.append(1 - residual.var() / vv.var())
            corr.append(np.corrcoef(s2[:, 7], vv)[0, 1])  # B8 (NIR) vs VV
    assert np.mean(r2_same) > 0.3
    assert np.mean(r2_other) < 0.15
    assert np.mean(r2_same) > np.mean(r2_other) + 0.25
    assert np.mean(corr_same) > np.mean(corr_other) + 0.1


def test_scene_label_mixes_differ_and_patches_are_mixed(synth_root: Path) -> None:
    table = pickle.loads((synth_root / synth.PROBABILITY_PICKLE).read_bytes())
    mixes = {}
    for key, ids in _scenes(synth_root).items():
        mixes[key] = np.mean([table[pid.filename("s2")] for pid in ids], axis=0)  # 17
    distances = [np.abs(a - b).sum() for a, b in combinations(mixes.values(), 2)]
    assert min(distances) > 0.2
    dominant = {int(np.argmax(m)) for m in mixes.values()}
    assert len(dominant) >= 4
    mixed = [np.count_nonzero(v) >= 2 for v in table.values()]
    assert np.mean(mixed) > 0.5  # the lc varies within most patches


def test_probability_pickle_equals_lc_fractions(tiny: Path) -> None:
    table = pickle.loads((tiny / synth.PROBABILITY_PICKLE).read_bytes())
    ids = sorted(scan_tree(tiny).files)
    assert sorted(table) == sorted(pid.filename("s2") for pid in ids)
    for pid in ids:
        igbp = read_raster(tiny / pid.relpath("lc"), (1,))[0][0]
        expected = np.bincount(igbp.ravel(), minlength=18)[1:] / igbp.size
        value = table[pid.filename("s2")]
        assert isinstance(value, list)
        assert len(value) == 17
        assert np.array_equal(np.array(value), expected)


def test_some_s1_patches_have_a_few_nans(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(synth, "NAN_PATCH_FRACTION", 1.0)
    synthesize_sen12ms(tmp_path / "t", SynthConfig(scenes=1, grid=2, size=16))
    scan = scan_tree(tmp_path / "t")
    for pid, files in scan.files.items():
        record = check_triplet(tmp_path / "t", pid, files)
        assert record.ok
        assert record.s1_nonfinite is not None
        assert 1 <= record.s1_nonfinite <= 8


def test_config_validation() -> None:
    for bad in ({"size": 15}, {"size": 14}, {"grid": 0}, {"scenes": 0}):
        with pytest.raises(ValueError, match="must be"):
            SynthConfig(**bad)
    with pytest.raises(ValueError, match="workers"):
        synthesize_sen12ms(Path("unused"), TINY, workers=-1)


def test_refuses_non_empty_out_and_leaves_nothing_when_interrupted(
    tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(DataError, match="not empty"):
        synthesize_sen12ms(tmp_path / "full", TINY)
    calls = []

    def failing_write(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(synth, "write_raster", failing_write)
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyboardInterrupt):
        synthesize_sen12ms(tmp_path / "empty", TINY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "full"]
    assert not any((tmp_path / "empty").iterdir())


def test_cli(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["synth", "sen12ms", str(out), "--scenes", "2", "--grid", "2", "--size", "32"]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1
    assert re.fullmatch(rf"wrote 8 patches in 2 scenes \(0 official test scenes\); [\d.]+ s; {out}",
                        printed[0])  # fmt: skip
    assert len(scan_tree(out).files) == 8
    assert not (out / synth.PROBABILITY_PICKLE).exists()
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    assert main([*args[:2], str(tmp_path / "p"), "--scenes", "1", "--grid", "1", "--size", "16",
                 "--probabilities", "--workers", "1"]) == 0  # fmt: skip
    assert len(pickle.loads((tmp_path / "p" / synth.PROBABILITY_PICKLE).read_bytes())) == 1
    assert main([*args[:2], str(tmp_path / "q"), "--size", "15"]) == 2
    assert "even and >= 16" in capsys.readouterr().err
