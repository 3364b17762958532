"""BigEarthNet v1 labels: the 43 CORINE classes, the 19-class nomenclature, and the patch JSON.

The 43 names are in the official order of BigEarthNet's ``label_indices.json`` (not sorted);
the 19-class nomenclature (Sumbul et al., "BigEarthNet-MM", 2021) merges or drops them as
docs/design.md §2 gives it. Multi-hot vectors are float32, ready for a multi-label loss.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sensormoco.errors import DataError

CLASSES_43: tuple[str, ...] = (
    "Continuous urban fabric",
    "Discontinuous urban fabric",
    "Industrial or commercial units",
    "Road and rail networks and associated land",
    "Port areas",
    "Airports",
    "Mineral extraction sites",
    "Dump sites",
    "Construction sites",
    "Green urban areas",
    "Sport and leisure facilities",
    "Non-irrigated arable land",
    "Permanently irrigated land",
    "Rice fields",
    "Vineyards",
    "Fruit trees and berry plantations",
    "Olive groves",
    "Pastures",
    "Annual crops associated with permanent crops",
    "Complex cultivation patterns",
    "Land principally occupied by agriculture, with significant areas of natural vegetation",
    "Agro-forestry areas",
    "Broad-leaved forest",
    "Coniferous forest",
    "Mixed forest",
    "Natural grassland",
    "Moors and heathland",
    "Sclerophyllous vegetation",
    "Transitional woodland/shrub",
    "Beaches, dunes, sands",
    "Bare rock",
    "Sparsely vegetated areas",
    "Burnt areas",
    "Inland marshes",
    "Peatbogs",
    "Salt marshes",
    "Salines",
    "Intertidal flats",
    "Water courses",
    "Water bodies",
    "Coastal lagoons",
    "Estuaries",
    "Sea and ocean",
)

CLASSES_19: tuple[str, ...] = (
    "Urban fabric",
    "Industrial or commercial units",
    "Arable land",
    "Permanent crops",
    "Pastures",
    *CLASSES_43[19:25],  # complex cultivation patterns ... mixed forest: named as in the 43
    "Natural grassland and sparsely vegetated areas",
    "Moors, heathland and sclerophyllous vegetation",
    "Transitional woodland, shrub",
    "Beaches, dunes, sands",
    "Inland wetlands",
    "Coastal wetlands",
    "Inland waters",
    "Marine waters",
)

# 19-class index -> the 0-based 43-class indices it merges (docs/design.md §2); the 11
# classes listed nowhere (roads, ports, airports, mines, dumps, construction, green urban,
# sport, bare rock, burnt areas, intertidal flats) are dropped.
MERGE_19: tuple[tuple[int, ...], ...] = (
    (0, 1),
    (2,),
    (11, 12, 13),
    (14, 15, 16, 18),
    (17,),
    (19,),
    (20,),
    (21,),
    (22,),
    (23,),
    (24,),
    (25, 31),
    (26, 27),
    (28,),
    (29,),
    (33, 34),
    (35, 36),
    (38, 39),
    (40, 41, 42),
)

_INDEX_43 = {name: i for i, name in enumerate(CLASSES_43)}
SCHEMES: dict[str, tuple[str, ...]] = {"19": CLASSES_19, "43": CLASSES_43}


def labels_43(names: Iterable[str], source: str | Path = "labels") -> np.ndarray:
    """The 43-class multi-hot vector (float32) of CORINE label names; an unknown name is a
    :class:`DataError` naming ``source`` (the JSON file the names came from)."""
    out = np.zeros(len(CLASSES_43), np.float32)
    for name in names:
        index = _INDEX_43.get(name.strip())
        if index is None:
            raise DataError(source, f"unknown BigEarthNet label {name!r}", "labels")
        out[index] = 1.0
    return out


def to_19(multi_hot_43: np.ndarray) -> np.ndarray:
    """Map 43-class multi-hot vector(s) (..., 43) to the 19-class nomenclature (..., 19)."""
    if multi_hot_43.shape[-1] != len(CLASSES_43):
        raise ValueError(f"expected 43 classes in the last axis, got {multi_hot_43.shape}")
    return np.stack([multi_hot_43[..., list(group)].max(axis=-1) for group in MERGE_19], axis=-1)


def multi_hot(names: Iterable[str], scheme: str, source: str | Path = "labels") -> np.ndarray:
    """The multi-hot vector of label names in ``scheme`` ("19" or "43")."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown BigEarthNet label scheme {scheme!r}; expected '19' or '43'")
    vector = labels_43(names, source)
    return vector if scheme == "43" else to_19(vector)


@dataclass(frozen=True)
class PatchMetadata:
    """What matters in a ``*_labels_metadata.json``: the label names and, for S1, the name of
    the S2 patch it pairs with (None in S2 files)."""

    labels: tuple[str, ...]
    corresponding_s2_patch: str | None = None


def read_metadata(path: str | Path, sensor: str) -> PatchMetadata:
    """Parse a patch JSON leniently: only ``labels`` (a list of strings) and, for ``sensor``
    "s1", ``corresponding_s2_patch`` are validated; other keys (``coordinates`` says ``lly`` in
    S1 files where S2 files say ``lry``, ``projection``, dates) are ignored."""
    if sensor not in ("s1", "s2"):
        raise ValueError(f"unknown sensor {sensor!r}; expected 's1' or 's2'")
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(path, "no labels metadata JSON", "missing") from exc
    except RecursionError as exc:
        raise DataError(path, "not readable JSON (nested too deeply)", "json") from exc
    except (OSError, ValueError) as exc:  # ValueError: JSONDecodeError, UnicodeDecodeError,
        # integers beyond Python's digit limit
        raise DataError(path, f"not readable JSON ({exc})", "json") from exc
    if not isinstance(data, dict):
        raise DataError(path, "labels metadata must be a JSON object", "json")
    labels = data.get("labels")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DataError(path, "'labels' must be a list of strings", "json")
    s2_name = None
    if sensor == "s1":
        partner = data.get("corresponding_s2_patch")
        if not isinstance(partner, str) or not partner.strip():
            raise DataError(path, "'corresponding_s2_patch' must name the S2 patch", "json")
        s2_name = partner.strip()
    labels_43(labels, path)  # every name must be one of the 43 classes
    return PatchMetadata(tuple(x.strip() for x in labels), s2_name)
