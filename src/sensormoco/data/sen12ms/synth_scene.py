"""The synthetic SEN12MS scene model (data/sen12ms/synth.py): a blocky IGBP map and a texture
field ("vegetation density"), from which S2 (per-class signatures), S1 (per-class
sigma-nought with gamma speckle) and the four lc layers are derived.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sensormoco.data.sen12ms.labels import N_IGBP

# Reflectance x 1e4 per IGBP code (rows 1-17), bands B1 B2 B3 B4 B5 B6 B7 B8 B8A B9 B10 B11 B12.
S2_SIGNATURES = np.array(
    [
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
    ],
    dtype=np.float32,
)  # 17 x 13
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
S1_MEANS_DB = np.array(
    [
        [-7.5, -13.5],
        [-7.0, -12.5],
        [-8.5, -14.5],
        [-8.0, -14.0],
        [-7.8, -13.8],
        [-9.0, -15.5],
        [-11.0, -18.5],
        [-9.0, -15.5],
        [-10.5, -17.5],
        [-11.5, -18.5],
        [-12.0, -19.0],
        [-10.0, -17.0],
        [-3.0, -10.0],
        [-9.5, -16.5],
        [-13.0, -20.0],
        [-15.0, -23.0],
        [-20.0, -27.0],
    ],
    dtype=np.float32,
)  # 17 x 2
S1_TEXTURE_DB = np.array([1.5, 2.0], dtype=np.float32)  # dB per unit texture (VV, VH)
# How strongly each IGBP class responds to the texture field (vegetation density).
TEXTURE_STRENGTH = np.array(
    [1, 1, 1, 1, 1, 1, 0.8, 1, 0.9, 0.9, 0.7, 1, 0.4, 1, 0.2, 0.3, 0.1], dtype=np.float32
)  # 17
SPECKLE_LOOKS = 5.0  # equivalent number of looks of the gamma speckle
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
LC_TABLE = np.array(
    [(c, *LCCS_FROM_IGBP[c]) for c in range(1, N_IGBP + 1)], np.uint16
)  # 17 x 4: IGBP, LCCS


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
    scores = np.stack(
        [smooth_field(rng, coarse, region / block) + np.log(weight) for weight in classes.values()]
    )  # K x h' x w'
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


def lc_from_cover(cover: np.ndarray) -> np.ndarray:
    """The four lc layers (4 x H x W uint16) of the IGBP map ``cover`` (H x W)."""
    return np.ascontiguousarray(LC_TABLE[cover.astype(np.intp) - 1].transpose(2, 0, 1))
