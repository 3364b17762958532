"""Non-overlapping subset of patches (docs/design.md §2): greedy, first come first served,
per UTM zone.

Within each CRS, patches are visited in a fixed documented order (season, scene number, patch
number, all ascending and numeric: :class:`PatchId` ordering). A patch is kept unless its
footprint overlaps an already kept footprint by more than ``max_overlap`` of its own area.
Kept footprints are bucketed on a regular grid whose cell is the largest footprint side, so
each candidate is compared with the few kept patches near it, not with all of them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sensormoco import defaults
from sensormoco.data.geotiff import Bounds
from sensormoco.data.sen12ms.layout import PatchId, PatchRecord
from sensormoco.data.sen12ms.splits import is_test


@dataclass(frozen=True)
class Footprint:
    """Where a patch lies: its CRS and bounds in that CRS's units."""

    patch_id: PatchId
    crs: str
    bounds: Bounds


def footprints(records: Iterable[PatchRecord], include_test: bool = False) -> list[Footprint]:
    """Footprints of index records; hold-out test scenes left out unless ``include_test``."""
    return [
        Footprint(r.patch_id, r.crs, r.bounds)
        for r in records
        if include_test or not is_test(r.patch_id)
    ]


def _area(b: Bounds) -> float:
    return max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)


def _intersection(a: Bounds, b: Bounds) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def _cells(b: Bounds, cell: float) -> Iterable[tuple[int, int]]:
    for i in range(math.floor(b[0] / cell), math.floor(b[2] / cell) + 1):
        for j in range(math.floor(b[1] / cell), math.floor(b[3] / cell) + 1):
            yield i, j


def _select_zone(footprints: list[Footprint], max_overlap: float) -> list[PatchId]:
    cell = max(max(f.bounds[2] - f.bounds[0], f.bounds[3] - f.bounds[1]) for f in footprints)
    cell = cell if cell > 0 else 1.0
    grid: dict[tuple[int, int], list[Bounds]] = defaultdict(list)
    kept: list[PatchId] = []
    for fp in sorted(footprints, key=lambda f: f.patch_id):
        limit = max_overlap * _area(fp.bounds)
        cells = list(_cells(fp.bounds, cell))
        if any(_intersection(fp.bounds, other) > limit for c in cells for other in grid.get(c, ())):
            continue
        kept.append(fp.patch_id)
        for c in cells:
            grid[c].append(fp.bounds)
    return kept


def non_overlapping(
    footprints: Iterable[Footprint], max_overlap: float = defaults.MAX_OVERLAP_FRACTION
) -> list[PatchId]:
    """Ids of the greedy non-overlapping subset, sorted. Zones (CRSs) are independent."""
    if not 0.0 <= max_overlap < 1.0:
        raise ValueError(f"max_overlap must be in [0, 1), got {max_overlap}")
    zones: dict[str, list[Footprint]] = defaultdict(list)
    for fp in footprints:
        zones[fp.crs].append(fp)
    return sorted(pid for zone in zones.values() for pid in _select_zone(zone, max_overlap))
