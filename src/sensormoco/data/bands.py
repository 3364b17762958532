"""Band sets by name and per-band normalisation (docs/design.md §2).

Bands are always chosen by name and validated, never by bare index, so that an encoder trained
on one band set cannot silently meet another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sensormoco.atomic import atomic_write_text
from sensormoco.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

S1_BANDS: tuple[str, ...] = ("VV", "VH")
S2_BANDS: tuple[str, ...] = (
    "B1",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6",
    "B7",
    "B8",
    "B8A",
    "B9",
    "B10",
    "B11",
    "B12",
)
S2_LAND_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
S2_RGB_BANDS: tuple[str, ...] = ("B4", "B3", "B2")
# BigEarthNet-S2 v1 ships 12 of the 13 bands (no B10), as files ``*_B01.tif`` ... ``*_B8A.tif``;
# they keep the project's band names so that band checks hold across datasets.
BIGEARTHNET_S2_BANDS: tuple[str, ...] = tuple(b for b in S2_BANDS if b != "B10")

SENSOR_BANDS: dict[str, tuple[str, ...]] = {"s1": S1_BANDS, "s2": S2_BANDS}

# The fusion layout of every multi-sensor encoder: S2's ten land bands, then S1's two.
FUSION_BANDS: tuple[str, ...] = S2_LAND_BANDS + S1_BANDS
# The bands each classifier input ("s1", "s2", "s1s2") gives an encoder.
INPUT_BANDS: dict[str, tuple[str, ...]] = {
    "s1": S1_BANDS,
    "s2": S2_LAND_BANDS,
    "s1s2": FUSION_BANDS,
}


def accepts(bands: Sequence[str], input_: str) -> bool:
    """Whether an encoder on ``bands`` takes ``input_``: a fusion-layout encoder takes every
    input (an absent sensor is zero), a single-sensor encoder only its own sensor's."""
    if input_ not in INPUT_BANDS:
        raise ValueError(f"unknown input {input_!r}; choose one of {list(INPUT_BANDS)}")
    return tuple(bands) in (FUSION_BANDS, INPUT_BANDS[input_])


def input_of(bands: Sequence[str]) -> str:
    """The input whose bands are ``bands`` (the fusion layout is ``s1s2``)."""
    for name, known in INPUT_BANDS.items():
        if tuple(bands) == known:
            return name
    raise ValueError(f"bands {list(bands)} are no input's ({', '.join(INPUT_BANDS)})")


# Named band sets accepted wherever a band list is: a set name or explicit band names.
BAND_SETS: dict[str, tuple[str, ...]] = {
    "s1": S1_BANDS,
    "s2-all": S2_BANDS,
    "s2-land": S2_LAND_BANDS,
    "s2-rgb": S2_RGB_BANDS,
    "s2-bigearthnet": BIGEARTHNET_S2_BANDS,
}

# Per-band (mean, std) used by the SEN12MS classification baselines, after the S1 clip to
# [-25, 0] dB and the S2 clip to [0, 10000]. B1, B9 and B10 have no published statistics.
SEN12MS_STATISTICS: dict[str, tuple[float, float]] = {
    "VV": (-11.76858, 4.525339),
    "VH": (-18.294598, 4.3586307),
    "B2": (1226.4215, 741.6254),
    "B3": (1137.3799, 740.883),
    "B4": (1139.6792, 960.1045),
    "B5": (1350.9973, 946.76056),
    "B6": (1932.9058, 985.52747),
    "B7": (2211.1584, 1082.4341),
    "B8": (2154.9846, 1057.7628),
    "B8A": (2409.1128, 1136.1942),
    "B11": (2001.8622, 1132.7898),
    "B12": (1356.0801, 991.48016),
}


def resolve_bands(sensor: str, spec: str | Sequence[str]) -> tuple[str, ...]:
    """Return the band names of ``spec`` (a set name or band names), validated for ``sensor``."""
    if sensor not in SENSOR_BANDS:
        raise ValueError(f"unknown sensor {sensor!r}; expected one of {sorted(SENSOR_BANDS)}")
    names = BAND_SETS.get(spec, (spec,)) if isinstance(spec, str) else tuple(spec)
    known = SENSOR_BANDS[sensor]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{sensor} has no band(s) {unknown}; its bands are {list(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate band names in {list(names)}")
    return names


def band_indices(sensor: str, names: Sequence[str]) -> tuple[int, ...]:
    """1-based band indices in the sensor's GeoTIFF for ``names`` (rasterio's convention)."""
    known = SENSOR_BANDS[sensor]
    return tuple(known.index(name) + 1 for name in resolve_bands(sensor, names))


@dataclass(frozen=True)
class Normalization:
    """Per-band standardisation ``(x - mean) / std`` for a named band list."""

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if not (len(self.bands) == len(self.mean) == len(self.std)):
            raise ValueError("bands, mean and std must have the same length")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")

    def select(self, bands: Sequence[str]) -> Normalization:
        """The statistics of ``bands`` (a subset of this one's bands, in the order given)."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise ValueError(f"no statistics for band(s) {missing}; have {list(self.bands)}")
        idx = [self.bands.index(b) for b in bands]
        return Normalization(
            tuple(bands), tuple(self.mean[i] for i in idx), tuple(self.std[i] for i in idx)
        )

    def apply_(self, x: np.ndarray) -> np.ndarray:
        """:meth:`apply` in place on a float32 numpy array (C, H, W): the same correctly rounded
        float32 operations, so the same bits, without torch (e.g. in DataLoader workers)."""
        if x.shape[-3] != len(self.bands):
            raise ValueError(f"expected {len(self.bands)} channels, got shape {tuple(x.shape)}")
        mean = np.asarray(self.mean, np.float32).reshape(-1, 1, 1)  # C x 1 x 1
        std = np.asarray(self.std, np.float32).reshape(-1, 1, 1)  # C x 1 x 1
        out: np.ndarray = np.divide(np.subtract(x, mean, out=x), std, out=x)
        return out

    def apply(self, x: Tensor) -> Tensor:
        """Standardise ``x`` of shape (C, H, W) or (N, C, H, W) with C = len(bands)."""
        import torch  # imported here: the command line's data commands never need torch

        if x.shape[-3] != len(self.bands):
            raise ValueError(f"expected {len(self.bands)} channels, got shape {tuple(x.shape)}")
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)  # C x 1 x 1
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)  # C x 1 x 1
        return (x - mean) / std

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            b: {"mean": m, "std": s}
            for b, m, s in zip(self.bands, self.mean, self.std, strict=True)
        }

    @classmethod
    def from_dict(
        cls, data: dict[str, dict[str, float]], source: str = "statistics"
    ) -> Normalization:
        try:
            bands = tuple(data)
            mean = tuple(float(data[b]["mean"]) for b in bands)
            std = tuple(float(data[b]["std"]) for b in bands)
            return cls(bands, mean, std)
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(source, f"not a band statistics mapping ({exc})") from exc

    @classmethod
    def from_statistics(cls, statistics: Mapping[str, tuple[float, float]]) -> Normalization:
        """From band -> (mean, std), in the mapping's band order."""
        values = statistics.values()
        return cls(tuple(statistics), tuple(m for m, _ in values), tuple(s for _, s in values))

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Normalization:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(path, f"cannot read band statistics ({exc})") from exc
        if not isinstance(data, dict):
            raise DataError(path, "band statistics must be a JSON object of band -> {mean, std}")
        return cls.from_dict(data, str(path))


SEN12MS_NORMALIZATION = Normalization.from_statistics(SEN12MS_STATISTICS)


# Per-band (mean, std) of BigEarthNet v1 on values as stored (S2 reflectance x 1e4, S1 dB; no
# clip), as TU Berlin's RSiM group publishes them: S2 from BigEarthNet.py of the official models
# (git.tu-berlin.de/rsim/bigearthnet-models-tf), S1 from its BigEarthNet-MM tooling; both are
# in the group's PyPI package bigearthnet-common (constants.BAND_STATS_S2 / BAND_STATS_S1).
BIGEARTHNET_STATISTICS: dict[str, tuple[float, float]] = {
    "VV": (-12.619993741972035, 5.115911777546365),
    "VH": (-19.29044597721542, 5.464428464912864),
    "B1": (340.76769064, 554.81258967),
    "B2": (429.9430203, 572.41639287),
    "B3": (614.21682446, 582.87945694),
    "B4": (590.23569706, 675.88746967),
    "B5": (950.68368468, 729.89827633),
    "B6": (1792.46290469, 1096.01480586),
    "B7": (2075.46795189, 1273.45393088),
    "B8": (2218.94553375, 1365.45589904),
    "B8A": (2266.46036911, 1356.13789355),
    "B9": (2246.0605464, 1302.3292881),
    "B11": (1594.42694882, 1079.19066363),
    "B12": (1009.32729131, 818.86747235),
}

BIGEARTHNET_NORMALIZATION = Normalization.from_statistics(BIGEARTHNET_STATISTICS)


# Per-band (mean, std) of BigEarthNet v2 (reBEN) over the images of its official train split,
# as its authors publish them (configilm 0.7.1, extra/BENv2_utils.py, ``means`` / ``stds``
# ["120_bilinear"]): every band brought to 120 x 120 by bilinear interpolation, the resampling
# of data/bigearthnet/v1.upsample_bilinear; values as stored (S2 reflectance x 1e4, S1 dB). They
# are what ``sensormoco stats bigearthnet ROOT --split train`` computes on the full dataset.
BIGEARTHNET_V2_STATISTICS: dict[str, tuple[float, float]] = {
    "VV": (-12.643863677978516, 5.133493900299072),
    "VH": (-19.352558135986328, 5.590505599975586),
    "B1": (360.64678955078125, 563.1734008789062),
    "B2": (438.3720703125, 607.02685546875),
    "B3": (614.0556640625, 603.2968139648438),
    "B4": (588.4096069335938, 684.56884765625),
    "B5": (942.7476806640625, 727.5784301757812),
    "B6": (1769.8486328125, 1087.4288330078125),
    "B7": (2049.475830078125, 1261.4302978515625),
    "B8": (2193.2919921875, 1369.3717041015625),
    "B8A": (2235.48681640625, 1342.490478515625),
    "B9": (2241.10595703125, 1294.35546875),
    "B11": (1568.2115478515625, 1063.9197998046875),
    "B12": (997.715087890625, 806.8846435546875),
}

BIGEARTHNET_V2_NORMALIZATION = Normalization.from_statistics(BIGEARTHNET_V2_STATISTICS)
