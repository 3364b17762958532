"""Official SEN12MS split, scene-level validation and seeded label budgets (docs/design.md §2).

Test is every patch of the 26 hold-out scenes. Validation is drawn by whole scenes (neighbouring
patches overlap, so a patch-level draw would leak). No id is ever in two of train/val/test.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import TypeVar

import numpy as np

from sensormoco import defaults
from sensormoco.data.sen12ms.layout import PatchId, write_id_list

T = TypeVar("T", PatchId, str)  # budget items: SEN12MS ids or BigEarthNet patch names


@cache
def holdout_scenes() -> frozenset[str]:
    """The official hold-out scenes as ``season/s1_scene`` keys (shipped as package data)."""
    text = files("sensormoco.resources").joinpath("sen12ms/holdout_scenes.txt").read_text()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def is_test(pid: PatchId) -> bool:
    return pid.scene_key in holdout_scenes()


@dataclass(frozen=True)
class Split:
    """Disjoint train / val / test id lists, each sorted."""

    train: list[PatchId]
    val: list[PatchId]
    test: list[PatchId]


def group_by_scene(ids: Iterable[PatchId]) -> dict[str, list[PatchId]]:
    groups: dict[str, list[PatchId]] = defaultdict(list)
    for pid in sorted(ids):
        groups[pid.scene_key].append(pid)
    return dict(groups)


def official_split(
    ids: Iterable[PatchId], val_fraction: float = defaults.VAL_FRACTION, seed: int = defaults.SEED
) -> Split:
    """Test = hold-out scenes; of the rest, whole scenes (seeded) go to val until they hold at
    least ``val_fraction`` of its patches."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    unique = sorted(set(ids))
    test = [pid for pid in unique if is_test(pid)]
    scenes = group_by_scene(pid for pid in unique if not is_test(pid))
    order = np.random.default_rng(seed).permutation(len(scenes))
    names = sorted(scenes)
    target = val_fraction * sum(len(v) for v in scenes.values())
    val: list[PatchId] = []
    val_scenes: set[str] = set()
    for i in order:
        if len(val) >= target:
            break
        val_scenes.add(names[i])
        val.extend(scenes[names[i]])
    train = [pid for name in names if name not in val_scenes for pid in scenes[name]]
    return Split(sorted(train), sorted(val), test)


def label_budget(
    split: Split,
    size: int,
    seed: int = defaults.SEED,
    train_fraction: float = defaults.BUDGET_TRAIN_FRACTION,
) -> tuple[list[PatchId], list[PatchId]]:
    """Draw a label budget of ``size`` patches, ``train_fraction`` of them from the split's train
    scenes and the rest from its val scenes (so budget train and val share no scene)."""
    return draw_budget(split.train, split.val, size, seed, train_fraction)


def draw_budget(
    train: Sequence[T],
    val: Sequence[T],
    size: int,
    seed: int = defaults.SEED,
    train_fraction: float = defaults.BUDGET_TRAIN_FRACTION,
) -> tuple[list[T], list[T]]:
    """``round(size * train_fraction)`` items of ``train`` and the rest of ``size`` from ``val``,
    drawn without replacement with ``seed``; each part sorted."""
    n_train = round(size * train_fraction)
    n_val = size - n_train
    if size <= 0:
        raise ValueError(f"budget size must be positive, got {size}")
    if n_train > len(train) or n_val > len(val):
        raise ValueError(
            f"budget {size} needs {n_train} train and {n_val} val patches; "
            f"the split has {len(train)} and {len(val)}"
        )
    rng = np.random.default_rng(seed)
    picked_train = rng.choice(len(train), size=n_train, replace=False)
    picked_val = rng.choice(len(val), size=n_val, replace=False)
    return sorted(train[int(i)] for i in picked_train), sorted(val[int(i)] for i in picked_val)


def write_split(out: Path, split: Split) -> None:
    """Write ``train.txt``, ``val.txt`` and ``test.txt`` into ``out``."""
    for name, part in (("train", split.train), ("val", split.val), ("test", split.test)):
        write_id_list(out / f"{name}.txt", part)


def write_budget(
    out: Path, split: Split, size: int, seed: int
) -> tuple[list[PatchId], list[PatchId]]:
    """Draw a label budget (:func:`label_budget`) and write ``budget{N}_seed{S}_{train,val}.txt``
    into ``out``; returns the two lists."""
    train, val = label_budget(split, size, seed)
    write_id_list(out / f"budget{size}_seed{seed}_train.txt", train)
    write_id_list(out / f"budget{size}_seed{seed}_val.txt", val)
    return train, val
