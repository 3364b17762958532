from __future__ import annotations

import pytest

from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.splits import holdout_scenes, is_test, label_budget, official_split

SEASONS = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")


def _ids() -> list[PatchId]:
    """20 patches in each of 12 scenes per season; scene 63 of spring is a hold-out scene."""
    scenes = [(season, s) for season in SEASONS for s in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)]
    scenes.append(("ROIs1158_spring", 63))
    return [PatchId(season, s, p) for season, s in scenes for p in range(1, 21)]


def test_holdout_scenes_are_the_official_26() -> None:
    scenes = holdout_scenes()
    assert len(scenes) == 26
    assert "ROIs1970_fall/s1_120" in scenes
    assert is_test(PatchId("ROIs1158_spring", 63, 5))
    assert not is_test(PatchId("ROIs1868_summer", 63, 5))


def test_split_is_disjoint_by_scene_and_complete() -> None:
    ids = _ids()
    split = official_split(ids, val_fraction=0.2, seed=1)
    assert all(is_test(p) for p in split.test)
    assert len(split.test) == 20
    parts = [set(split.train), set(split.val), set(split.test)]
    assert sum(map(len, parts)) == len(ids) == len(set.union(*parts))
    scenes = [{p.scene_key for p in part} for part in parts]
    assert not (scenes[0] & scenes[1])
    assert not (scenes[0] & scenes[2])
    assert not (scenes[1] & scenes[2])
    assert 0.2 * 960 <= len(split.val) < 0.2 * 960 + 20


def test_split_is_seeded() -> None:
    ids = _ids()
    assert official_split(ids, seed=4) == official_split(list(reversed(ids)), seed=4)
    assert official_split(ids, seed=4).val != official_split(ids, seed=5).val


def test_label_budget_is_80_20_seeded_and_scene_disjoint() -> None:
    split = official_split(_ids(), val_fraction=0.25, seed=0)
    train, val = label_budget(split, 100, seed=7)
    assert (len(train), len(val)) == (80, 20)
    assert set(train) <= set(split.train)
    assert set(val) <= set(split.val)
    assert not {p.scene_key for p in train} & {p.scene_key for p in val}
    assert label_budget(split, 100, seed=7) == (train, val)
    assert label_budget(split, 100, seed=8) != (train, val)


def test_label_budget_too_large_is_a_clear_error() -> None:
    split = official_split(_ids(), val_fraction=0.1, seed=0)
    with pytest.raises(ValueError, match="budget 4096 needs"):
        label_budget(split, 4096)
