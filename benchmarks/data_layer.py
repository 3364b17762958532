"""Data-layer benchmark: index, labels and subset times on a large synthetic SEN12MS tree, and
the subset algorithm on 180,662 footprints (the size of SEN12MS).

    python -m benchmarks.data_layer [--scenes 64] [--grid 8] [--size 64] [--repeats 3]

Prints a table of medians over repeats (seconds and patches/s). The tree is written once into a
temporary folder (or --root, reused when it exists).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sensormoco.data.sen12ms.index import build_index
from sensormoco.data.sen12ms.labels import label_rows, read_many_lc_fractions
from sensormoco.data.sen12ms.layout import SEASONS, PatchId
from sensormoco.data.sen12ms.subset import Footprint, footprints, non_overlapping
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms

SEN12MS_PATCHES = 180_662


def median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sen12ms_sized_footprints(total: int = SEN12MS_PATCHES) -> list[Footprint]:
    """Scenes of 16 x 16 patches of 256 px at stride 128 px, spread over 60 UTM zones."""
    size, stride, per_scene = 2560.0, 1280.0, 256
    footprints = []
    for k in range(total):
        scene, cell = divmod(k, per_scene)
        row, col = divmod(cell, 16)
        left, top = 200000.0 + (scene % 20) * 30000.0 + col * stride, 6e6 - row * stride
        pid = PatchId(SEASONS[scene % 4], scene, cell + 1)
        crs = f"EPSG:326{scene % 60 + 1:02d}"
        footprints.append(Footprint(pid, crs, (left, top - size, left + size, top)))
    return footprints


def _labels(lc_paths: dict[PatchId, Path], workers: int) -> object:
    return label_rows(read_many_lc_fractions(lc_paths, workers).fractions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=64)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", type=Path, help="reuse or create the tree here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.root or Path(tmp) / "tree"
        rows: list[tuple[str, int, float]] = []
        if not root.exists():
            start = time.perf_counter()
            summary = synthesize_sen12ms(
                root, SynthConfig(args.scenes, args.grid, args.size), workers=2
            )
            rows.append(("synth (2 workers, once)", summary.patches, time.perf_counter() - start))
        index = build_index(root, read_pixels=False)
        n = len(index.records)
        lc_paths = {r.patch_id: root / r.paths["lc"] for r in index.usable}
        for workers in (0, 2):
            steps: dict[str, Callable[[], object]] = {
                "index --headers-only": partial(build_index, root, False, workers),
                "index (all pixels)": partial(build_index, root, True, workers),
                "labels (lc read + rows)": partial(_labels, lc_paths, workers),
            }
            for name, step in steps.items():
                rows.append((f"{name}, {workers} workers", n, median_time(step, args.repeats)))
        tree_fps = footprints(index.usable, include_test=True)
        rows.append(("subset (tree footprints)", n,
                     median_time(lambda: non_overlapping(tree_fps), args.repeats)))  # fmt: skip
        big = sen12ms_sized_footprints()
        rows.append(("subset (180,662 footprints)", len(big),
                     median_time(lambda: non_overlapping(big), args.repeats)))  # fmt: skip

    print(f"| step | patches | median s | patches/s | est. s for {SEN12MS_PATCHES:,} |")
    print("|---|---:|---:|---:|---:|")
    for name, count, seconds in rows:
        rate = count / seconds
        print(
            f"| {name} | {count:,} | {seconds:.2f} | {rate:,.0f} | {SEN12MS_PATCHES / rate:,.0f} |"
        )


if __name__ == "__main__":
    main()
