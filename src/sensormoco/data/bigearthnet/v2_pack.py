"""Packing a BigEarthNet v2 root (tree or LMDB) into a store (data/bigearthnet/v2_store.py).

Pairs are read one at a time, validated (both sensors, every band at its native size and
dtype) and appended to the arrays; a pair that cannot be read is skipped and listed in
``skipped.csv``, never dropped silently. The store is built in ``STORE.partial`` (removed and
rebuilt if an earlier pack was interrupted) and renamed into place only when complete.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sensormoco import __version__
from sensormoco.atomic import atomic_write_text
from sensormoco.data.bands import BIGEARTHNET_S2_BANDS, S1_BANDS
from sensormoco.data.bigearthnet.v1 import FILE_SUFFIX
from sensormoco.data.bigearthnet.v2 import V2Source, check_band, open_source
from sensormoco.data.bigearthnet.v2_metadata import METADATA, SNOW_CLOUD_METADATA, V2Patch
from sensormoco.data.bigearthnet.v2_store import (
    FORMAT,
    FORMAT_VERSION,
    GROUPS,
    IDS,
    MANIFEST,
    SKIPPED,
    specs,
)
from sensormoco.data.store.arrays import npy_header
from sensormoco.errors import DataError


@dataclass(frozen=True)
class V2PackSummary:
    path: Path
    rows: int
    skipped: int  # pairs that could not be read
    left_out: int  # snow/cloud/shadow patches not packed
    nbytes: int
    seconds: float
    first_problem: str  # "" when nothing was skipped


def _pair_arrays(source: V2Source, patch: V2Patch) -> dict[str, np.ndarray]:
    """Every band of ``patch``'s pair (file suffix -> native array), validated."""
    source.require_pair(patch)
    out: dict[str, np.ndarray] = {}
    for sensor, key, bands in (
        ("s1", patch.s1_name, S1_BANDS),
        ("s2", patch.patch_id, BIGEARTHNET_S2_BANDS),
    ):
        arrays = source.reader.read(key, [FILE_SUFFIX[b] for b in bands])
        for band in bands:
            check_band(source.reader.source(key), band, arrays[FILE_SUFFIX[band]], sensor)
        out |= arrays
    return out


def pack_bigearthnet(
    root: str | Path, out: str | Path, keep_snow_cloud: bool = False
) -> V2PackSummary:
    """Pack the pairs of the v2 root ``root`` (snow/cloud/shadow left out unless
    ``keep_snow_cloud``) into the store ``out``."""
    start, out = time.perf_counter(), Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(out, "exists and is not an empty folder")
    source = open_source(root, keep_snow_cloud)
    if source.kind == "store":
        raise DataError(root, "is already a packed store")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    layout = specs()
    files = {name: (partial / spec.file).open("wb") for name, spec in layout.items()}
    ids: list[str] = []
    skipped: list[tuple[str, str]] = []
    try:
        for name, f in files.items():
            f.write(npy_header(layout[name], 0))
        for patch in source.metadata.patches:
            try:
                arrays = _pair_arrays(source, patch)
            except DataError as exc:
                skipped.append((patch.patch_id, str(exc)))
                continue
            for name, (dtype, _, bands) in GROUPS.items():
                block = np.stack([arrays[b] for b in bands]).astype(dtype)  # C x side x side
                files[name].write(block.tobytes())
            ids.append(f"{patch.patch_id}\t{patch.s1_name}")
        for name, f in files.items():
            f.seek(0)
            f.write(npy_header(layout[name], len(ids)))
            f.flush()
            os.fsync(f.fileno())
    finally:
        for f in files.values():
            f.close()
    if not ids:
        shutil.rmtree(partial)
        first = skipped[0][1] if skipped else "no patches"
        raise DataError(root, f"no pair could be packed; first problem: {first}")
    for name in (METADATA, SNOW_CLOUD_METADATA):
        if (source.root / name).is_file():
            shutil.copyfile(source.root / name, partial / name)
    (partial / IDS).write_text("".join(f"{line}\n" for line in ids), encoding="utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("patch_id", "reason"))
    writer.writerows(skipped)
    (partial / SKIPPED).write_text(buffer.getvalue(), encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "sensormoco": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": {
            "dataset": "bigearthnet-v2",
            "kind": source.kind,
            "root": str(source.root.resolve()),
            "keep_snow_cloud": keep_snow_cloud,
        },
        "count": len(ids),
        "skipped": len(skipped),
        "left_out_snow_cloud_shadow": len(source.metadata.left_out),
        "arrays": {n: spec.describe(len(ids)) for n, spec in layout.items()},
    }
    atomic_write_text(partial / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    if out.is_dir():
        out.rmdir()  # empty (checked above)
    os.replace(partial, out)
    return V2PackSummary(
        out,
        len(ids),
        len(skipped),
        len(source.metadata.left_out),
        sum(f.stat().st_size for f in out.iterdir()),
        time.perf_counter() - start,
        skipped[0][1] if skipped else "",
    )
