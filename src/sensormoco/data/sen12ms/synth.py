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
from collections.abc import Iterator, Mapping
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
from sensormoco.errors import DataError

PROBABILITY_PICKLE = "IGBP_probability_labels.pkl"
PIXEL_M = 10

# Reflectance x 1e4 per IGBP code (rows 1-17), bands B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10 B11 B12.
S2_SIGNATURES = np.array([
    [250, 200, 350, 200, 600, 1800, 2200, 2400, 2500, 800, 15, 1200, 550],  # 1 evergreen needle
    [250, 220, 450, 250, 800, 2600, 3100, 3300, 3400, 1000, 15, 1500, 650],  # 2 evergreen broad
    [280, 260, 480, 300, 800, 2200, 2600, 2800, 2900, 900, 15, 1500, 700],  # 3 deciduous needle
    [280, 250, 500, 280, 850, 2800, 3400, 3600, 3700, 1100, 15, 1700, 750],  # 4 deciduous broad
    [270, 230, 420, 240, 700, 2300, 2800, 3000, 3100, 950, 15, 1450, 650],  # 5 mixed forest
    [400, 400, 650, 600, 1100, 2000, 2400, 2600, 2700, 900, 15, 2200, 1400],  # 6 closed shrub
    [600, 650, 900, 1100, 1500, 2000, 2300, 2450, 2600, 900, 20, 2900, 2200],  # 7 open shrub
    [400, 380, 650, 550, 1000, 2200, 2600, 2800, 2900, 950, 15, 2000, 1200],  # 8 woody savanna
    [500, 500, 800, 850, 1300, 2100, 2400, 2600, 2700, 900, 20, 2600, 1800],  # 9 savanna
    [450, 450, 800, 650, 1200, 2400, 2900, 3100, 3200, 1000, 15, 2300, 1400],  # 10 grassland
    [350, 350, 550, 400, 700, 1300, 1600, 1700, 1750, 600, 10, 900, 500],  # 11 wetland
    [450, 420, 750, 550, 1100, 2600, 3200, 3400, 3500, 1100, 15, 2200, 1300],  # 12 cropland
    [1100, 1100, 1200, 1300, 1400, 1550, 1650, 1700, 1750, 600, 30, 1900, 1700],  # 13 urban
    [420, 400, 700, 520, 1000, 2400, 2900, 3100, 3200, 1000, 15, 2100, 1200],  # 14 crop mosaic
    [8500, 8700, 8600, 8400, 8000, 7600, 7300, 7000, 6800, 2500, 100, 400, 300],  # 15 snow, ice
    [1200, 1400, 1900, 2500, 2800, 3000, 3100, 3200, 3300, 1200, 40, 4000, 3500],  # 16 barren
    [500, 450, 400, 250, 200, 150, 120, 100, 90, 40, 5, 40, 20],  # 17 water
], dtype=np.float32)  # fmt: skip  # 17 x 13
# Relative S2 change per unit of texture (denser vegetation: darker visible/SWIR, brighter NIR).
S2_TEXTURE_GAIN = np.array(
    [-0.06, -0.08, -0.06, -0.12, -0.02, 0.08, 0.12, 0.14, 0.14, 0.10, 0.0, -0.08, -0.10],
    dtype=np.float32,
)  # 13
# Haze adds most to the short wavelengths (relative to the per-patch haze level).
S2_HAZE_SHAPE = np.array(
    [1.0, 0.85, 0.65, 0.5, 0.42, 0.36, 0.32, 0.28, 0.26, 0.2, 0.05, 0.08, 0.05], dtype=np.float32
)  # 13
# Sigma-nought means in dB (VV, VH) per IGBP code 1-17.
S1_MEANS_DB = np.array([
    [-7.5, -13.5], [-7.0, -12.5], [-8.5, -14.5], [-8.0, -14.0], [-7.8, -13.8], [-9.0, -15.5],
    [-11.0, -18.5], [-9.0, -15.5], [-10.5, -17.5], [-11.5, -18.5], [-12.0, -19.0],
    [-10.0, -17.0], [-3.0, -10.0], [-9.5, -16.5], [-13.0, -20.0], [-15.0, -23.0],
    [-20.0, -27.0],
], dtype=np.float32)  # fmt: skip  # 17 x 2
S1_TEXTURE_DB = np.array([1.5, 2.0], dtype=np.float32)  # dB per unit texture (VV, VH)
# How strongly each IGBP class responds to the texture field (vegetation density).
TEXTURE_STRENGTH = np.array(
    [1, 1, 1, 1, 1, 1, 0.8, 1, 0.9, 0.9, 0.7, 1, 0.4, 1, 0.2, 0.3, 0.1], dtype=np.float32
)  # 17
SPECKLE_LOOKS = 5.0  # equivalent number of looks of the gamma speckle
NAN_PATCH_FRACTION = 0.01  # share of S1 patches given a few NaN pixels, as in real SEN12MS
# IGBP code -> (LCCS land cover, LCCS land use, LCCS surface hydrology): a fixed plausible table.
LCCS_FROM_IGBP: dict[int, tuple[int, int, int]] = {
    1: (11, 10, 10),
    2: (12, 10, 10),
    3: (13, 10, 10),
    4: (14, 10, 10),
    5: (15, 10, 10),
    6: (41, 40, 40),
    7: (43, 40, 40),
    8: (21, 20, 20),
    9: (22, 20, 20),
    10: (31, 30, 30),
    11: (31, 30, 50),
    12: (31, 36, 30),
    13: (1, 9, 1),
    14: (31, 35, 30),
    15: (2, 2, 2),
    16: (1, 1, 1),
    17: (3, 3, 3),
}
_LC_TABLE = np.array([(c, *LCCS_FROM_IGBP[c]) for c in range(1, N_IGBP + 1)], np.uint16)  # 17 x 4


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


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A unit-variance random field (H x W float32) varying over about ``cell`` pixels: Gaussian
    noise on a coarse grid, interpolated with smoothstep weights."""
    h, w = shape
    coarse = rng.standard_normal((int(h / cell) + 3, int(w / cell) + 3))  # gh x gw
    y = (np.arange(h) + rng.uniform(0, cell)) / cell  # H
    x = (np.arange(w) + rng.uniform(0, cell)) / cell  # W
    iy, ix = y.astype(np.intp), x.astype(np.intp)
    fy, fx = (y - iy)[:, None], (x - ix)[None, :]  # H x 1, 1 x W
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = coarse[np.ix_(iy, ix)] * (1 - fx) + coarse[np.ix_(iy, ix + 1)] * fx  # H x W
    bottom = coarse[np.ix_(iy + 1, ix)] * (1 - fx) + coarse[np.ix_(iy + 1, ix + 1)] * fx
    field = top * (1 - fy) + bottom * fy  # H x W
    normalised: np.ndarray = ((field - field.mean()) / (field.std() + 1e-9)).astype(np.float32)
    return normalised


def land_cover_map(
    rng: np.random.Generator,
    shape: tuple[int, int],
    classes: Mapping[int, float],
    region: float,
    block: int,
) -> np.ndarray:
    """IGBP codes (H x W uint8): per pixel block of ``block`` px (MODIS-like), the class whose
    smooth field (regions of about ``region`` px) plus log-weight is highest."""
    h, w = shape
    coarse = (-(-h // block), -(-w // block))
    codes = np.array(list(classes), dtype=np.uint8)  # K
    scores = np.stack([
        smooth_field(rng, coarse, region / block) + np.log(weight) for weight in classes.values()
    ])  # fmt: skip  # K x h' x w'
    cover = codes[np.argmax(scores, axis=0)]  # h' x w'
    return np.repeat(np.repeat(cover, block, axis=0), block, axis=1)[:h, :w]  # H x W


def s2_from_cover(rng: np.random.Generator, cover: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Scene S2 reflectance x 1e4 (13 x H x W float32) before illumination and haze: per-class
    signatures (jittered per scene), modulated by the texture, plus Gaussian noise."""
    signatures = S2_SIGNATURES * rng.normal(1.0, 0.05, S2_SIGNATURES.shape).astype(np.float32)
    index = cover.astype(np.intp) - 1  # H x W
    response = TEXTURE_STRENGTH[index] * texture  # H x W
    s2 = np.ascontiguousarray(signatures[index].transpose(2, 0, 1))  # 13 x H x W
    s2 *= 1.0 + S2_TEXTURE_GAIN[:, None, None] * response[None]
    s2 += rng.standard_normal(s2.shape, dtype=np.float32) * (0.02 * s2 + 20.0)
    return s2


def s1_from_cover(rng: np.random.Generator, cover: np.ndarray, texture: np.ndarray) -> np.ndarray:
    """Scene S1 sigma-nought in dB (2 x H x W float32): per-class VV/VH means, modulated by the
    texture, with multiplicative gamma speckle in linear power."""
    index = cover.astype(np.intp) - 1  # H x W
    response = TEXTURE_STRENGTH[index] * texture  # H x W
    mean_db = S1_MEANS_DB[index].transpose(2, 0, 1) + S1_TEXTURE_DB[:, None, None] * response
    speckle = rng.gamma(SPECKLE_LOOKS, 1.0 / SPECKLE_LOOKS, mean_db.shape)  # 2 x H x W
    s1 = mean_db + 10.0 * np.log10(np.maximum(speckle, 1e-6))  # 2 x H x W
    return np.ascontiguousarray(s1, dtype=np.float32)


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
    lc = np.ascontiguousarray(_LC_TABLE[cover.astype(np.intp) - 1].transpose(2, 0, 1))  # 4xHxW
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
