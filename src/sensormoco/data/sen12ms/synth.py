"""A synthetic SEN12MS tree of real GeoTIFFs in the exact SEN12MS layout (docs/design.md §2).

Each scene is one raster of ``(grid + 1) * size / 2`` pixels per side, cut into ``grid x grid``
patches at stride ``size / 2`` (patch numbers 1-based, row-major). A scene has a blocky
(MODIS-like) IGBP map of coherent regions drawn from a scene-specific class mix, and a fine
texture field ("vegetation density"); S2 and S1 are both derived from these two, so one place's
sensors share structure that differs between places. Every random draw comes from a generator
seeded by (seed, scene index): the output does not depend on the number of worker processes.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, count
from pathlib import Path

import numpy as np
from affine import Affine

from sensormoco import defaults
from sensormoco.data.geotiff import write_raster
from sensormoco.data.sen12ms.labels import N_IGBP, igbp_fractions
from sensormoco.data.sen12ms.layout import SEASONS, PatchId
from sensormoco.data.sen12ms.splits import holdout_scenes
from sensormoco.data.sen12ms.synth_scene import (
    S2_HAZE_SHAPE,
    land_cover_map,
    lc_from_cover,
    s1_from_cover,
    s2_from_cover,
    smooth_field,
)
from sensormoco.errors import DataError

PROBABILITY_PICKLE = "IGBP_probability_labels.pkl"
PIXEL_M = 10
NAN_PATCH_FRACTION = 0.01  # share of S1 patches given a few NaN pixels, as in real SEN12MS


@dataclass(frozen=True)
class SynthConfig:
    """Scenes, patches per scene side, patch size in pixels, seed."""

    scenes: int = defaults.SYNTH_SCENES
    grid: int = defaults.SYNTH_GRID
    size: int = defaults.SYNTH_SIZE
    seed: int = defaults.SEED

    def __post_init__(self) -> None:
        if self.scenes < 1 or self.grid < 1:
            raise ValueError(f"scenes and grid must be >= 1, got {self.scenes} and {self.grid}")
        if self.size < 16 or self.size % 2:
            raise ValueError(f"patch size must be even and >= 16, got {self.size}")

    @property
    def side(self) -> int:
        """Pixels per side of one scene raster."""
        return (self.grid + 1) * self.size // 2


@dataclass(frozen=True)
class SynthSummary:
    """What a run wrote: patch and scene counts, official test scenes among them, seconds."""

    patches: int
    scenes: int
    test_scenes: int
    seconds: float


@dataclass(frozen=True)
class ScenePlan:
    """Where and what one scene is: index, season, scene number, CRS and top-left corner (m)."""

    index: int
    season: str
    number: int
    test: bool
    crs: str
    x0: int
    y0: int


def plan_scenes(config: SynthConfig) -> list[ScenePlan]:
    """Seasons round-robin; in each block of 8 scenes one (at position 3, 2, 1, 0, ... so the
    season varies) takes an official hold-out number; others take non-hold-out numbers. Scene i
    lies in UTM zone 1 + 7i mod 60; scenes sharing a zone sit on a lattice wider than a scene."""
    held: dict[str, list[int]] = {s: [] for s in SEASONS}
    for key in sorted(holdout_scenes()):
        season, scene = key.split("/s1_")
        held[season].append(int(scene))
    for numbers in held.values():
        numbers.sort()
    free = {s: _free_numbers(frozenset(held[s])) for s in SEASONS}
    extent = config.side * PIXEL_M
    step = -(-(extent + 10_000) // 10_000) * 10_000
    cols = max(1, 400_000 // step)
    plans = []
    for i in range(config.scenes):
        season = SEASONS[i % len(SEASONS)]
        block, position = divmod(i, 8)
        test = position == 3 - block % 4 and bool(held[season])
        number = held[season].pop(0) if test else next(free[season])
        zone_slot, repeat = i % 60, i // 60
        x0 = 200_000 + zone_slot * 13 % 10 * 10_000 + repeat % cols * step
        y0 = 1_000_000 + extent + zone_slot * 29 % 40 * 100_000 + repeat // cols * step
        crs = f"EPSG:326{1 + zone_slot * 7 % 60:02d}"
        plans.append(ScenePlan(i, season, number, test, crs, x0, y0))
    return plans


def _free_numbers(excluded: frozenset[int]) -> Iterator[int]:
    """Scene numbers 1-150 in a scattered fixed order, then 151, 152, ...; never ``excluded``."""
    scattered = (1 + k * 37 % 150 for k in range(150))
    return (n for n in chain(scattered, count(151)) if n not in excluded)


def _scene(plan: ScenePlan, config: SynthConfig, root: Path) -> dict[str, list[float]]:
    """Write every patch of one scene; return S2 file name -> 17 IGBP fractions."""
    rng = np.random.default_rng([config.seed, plan.index])
    shape = (config.side, config.side)
    picked = rng.choice(N_IGBP, size=int(rng.integers(2, 6)), replace=False) + 1
    weights = rng.dirichlet(np.full(len(picked), 2.0))
    mix = {int(c): float(w) for c, w in zip(picked, weights, strict=True)}
    cover = land_cover_map(rng, shape, mix, 0.75 * config.size, max(1, config.size // 8))  # H x W
    texture = 0.8 * smooth_field(rng, shape, 3) + 0.6 * smooth_field(rng, shape, 12)  # H x W
    texture = np.clip(texture, -2.5, 2.5)
    lc = lc_from_cover(cover)  # 4 x H x W
    s2 = s2_from_cover(rng, cover, texture)  # 13 x H x W
    s1 = s1_from_cover(rng, cover, texture)  # 2 x H x W
    stride, size = config.size // 2, config.size
    fractions: dict[str, list[float]] = {}
    for row in range(config.grid):
        for col in range(config.grid):
            pid = PatchId(plan.season, plan.number, row * config.grid + col + 1)
            window = np.s_[
                :, row * stride : row * stride + size, col * stride : col * stride + size
            ]
            transform = Affine(
                PIXEL_M,
                0,
                plan.x0 + col * stride * PIXEL_M,
                0,
                -PIXEL_M,
                plan.y0 - row * stride * PIXEL_M,
            )
            haze = rng.uniform(0.0, 200.0) * S2_HAZE_SHAPE[:, None, None]  # 13 x 1 x 1
            s2_patch = s2[window] * rng.uniform(0.9, 1.1) + haze  # 13 x size x size
            s2_patch = np.rint(np.clip(s2_patch, *defaults.S2_CLIP)).astype(np.uint16)
            s1_patch = s1[window].copy()  # 2 x size x size
            if rng.random() < NAN_PATCH_FRACTION:
                flat = rng.choice(s1_patch.size, size=int(rng.integers(1, 9)), replace=False)
                s1_patch.reshape(-1)[flat] = np.nan
            lc_patch = np.ascontiguousarray(lc[window])  # 4 x size x size
            write_raster(root / pid.relpath("s1"), s1_patch, plan.crs, transform)
            write_raster(root / pid.relpath("s2"), s2_patch, plan.crs, transform)
            write_raster(root / pid.relpath("lc"), lc_patch, plan.crs, transform)
            fractions[pid.filename("s2")] = igbp_fractions(lc_patch[0])[0].tolist()
    return fractions


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise DataError(out, "output folder is not empty; give a new or empty folder")


def synthesize_sen12ms(
    out: Path, config: SynthConfig, workers: int = 0, probabilities: bool = False
) -> SynthSummary:
    """Write a synthetic SEN12MS tree to ``out`` (new or empty) with processes across scenes
    when ``workers`` > 0; with ``probabilities`` also ``IGBP_probability_labels.pkl``.

    The tree is built in a hidden sibling folder and moved to ``out`` when complete, so an
    interrupted run leaves no partial tree behind.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    out = Path(out)
    _check_out(out)
    start = time.perf_counter()
    plans = plan_scenes(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    stage.chmod(0o755)  # mkdtemp makes it private; the tree is an ordinary output folder
    try:
        args = ([config] * len(plans), [stage] * len(plans))
        if workers > 0:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = list(pool.map(_scene, plans, *args))
        else:
            results = list(map(_scene, plans, *args))
        if probabilities:
            table = {name: value for result in results for name, value in result.items()}
            (stage / PROBABILITY_PICKLE).write_bytes(pickle.dumps(table))
        _check_out(out)
        if out.is_dir():
            out.rmdir()
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return SynthSummary(
        patches=sum(len(r) for r in results),
        scenes=len(plans),
        test_scenes=sum(p.test for p in plans),
        seconds=time.perf_counter() - start,
    )
