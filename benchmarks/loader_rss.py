"""Peak RSS of pre-training's loading against the store's size (part 3 of benchmarks/loader.py).

    python -m benchmarks.loader_rss STORE BATCHES BATCH   (the child: prints its peak RSS)

A --rss-small store (a synthetic tree) and a --rss-large one (that tree's files repeated under
other scene numbers, as hard links: only the store's size matters here) are read as
pre-training reads them, each in a fresh child process; the peak RSS of the child's main
process and of its largest worker (getrusage).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler

from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.data.sources import open_patches, standardize
from sensormoco.data.store.batch_pool import release_batch
from sensormoco.data.store.dataset import StoreDataset, collate_samples
from sensormoco.data.store.format import is_store, open_store
from sensormoco.data.store.pack import pack_sen12ms


def dataset_norms(dataset: Any) -> tuple[Normalization, Normalization]:
    """The statistics that standardise ``dataset``'s raw S1 and S2 bands."""
    s1, s2 = dataset.s1_bands, dataset.s2_bands
    return SEN12MS_NORMALIZATION.select(s1), SEN12MS_NORMALIZATION.select(s2)


def rss_child(store: Path, batches: int, batch: int) -> None:
    """Pre-training's loading from ``store``; prints peak RSS (KiB) of this process and of
    its largest loader worker as JSON."""
    patches = open_patches(store, exclude=is_test, raw=True)  # what pre-training opens
    dataset = patches.dataset
    assert isinstance(dataset, StoreDataset)
    dataset.reuse_buffers = True
    norms = dataset_norms(dataset)
    sampler = RandomSampler(
        dataset, num_samples=batches * batch, generator=torch.Generator().manual_seed(0)
    )
    loader = DataLoader(
        dataset, batch_size=batch, sampler=sampler, num_workers=2, collate_fn=collate_samples
    )
    total = 0.0
    for item in loader:  # pre-training's path: a raw batch, standardised, released
        standardized = standardize(item, *norms)
        release_batch(item)
        total += float(standardized["s2"].mean())  # touch the batch as a model would
    del loader
    print(
        json.dumps(
            {
                "store": open_store(store).count,
                "patches": len(patches.ids),
                "main_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "worker_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            }
        )
    )


def repeated_tree(base: Path, out: Path, copies: int) -> None:
    """A tree holding ``base``'s files ``copies`` times under other scene numbers (hard links:
    instant, no disk); only the store's size matters for memory, not its content."""
    stage = out.with_name(out.name + ".partial")
    shutil.rmtree(stage, ignore_errors=True)
    for path in sorted(base.rglob("*.tif")):
        pid = PatchId.parse(path.name)
        sensor = path.parent.name.split("_")[0]
        for copy in range(copies):
            twin = PatchId(pid.season, pid.scene + 1000 * copy, pid.patch)
            target = stage / twin.relpath(sensor)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    os.replace(stage, out)


def peak_rss(args: argparse.Namespace, work: Path) -> None:
    copies = max(1, args.rss_large // args.rss_small)
    config = SynthConfig(-(-args.rss_small // 100), 10, args.rss_size)  # 100 patches a scene
    name = f"rss_{config.scenes}x{config.grid}x{config.size}"
    base, large_tree = work / name, work / f"{name}_x{copies}"
    small, large = work / f"{name}.store", work / f"{name}_x{copies}.store"
    if not base.exists():
        synthesize_sen12ms(base, config, workers=2)
    if not large_tree.exists():
        repeated_tree(base, large_tree, copies)
    for tree, store in ((base, small), (large_tree, large)):
        if not is_store(store):
            pack_sen12ms(tree, store, workers=2)
    print(
        f"\npeak RSS, pre-training loading ({args.rss_size} px, 2 workers, "
        f"{args.rss_batches} batches of {args.rss_batch}); fresh child process each\n"
    )
    print(
        "| store patches | non-test patches | main process MiB | largest worker MiB | "
        "child (wait4) MiB |"
    )
    print("|---:|---:|---:|---:|---:|")
    for store in (small, large):
        command = [
            sys.executable,
            "-m",
            "benchmarks.loader_rss",
            str(store),
            str(args.rss_batches),
            str(args.rss_batch),
        ]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        out = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode:
            raise SystemExit(f"RSS child failed ({child.returncode}): {' '.join(command)}")
        data = json.loads(out.strip().splitlines()[-1])
        print(
            f"| {data['store']:,} | {data['patches']:,} | {data['main_kib'] / 1024:,.0f} | "
            f"{data['worker_kib'] / 1024:,.0f} | {usage.ru_maxrss / 1024:,.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    store, batches, batch = sys.argv[1:4]
    rss_child(Path(store), int(batches), int(batch))
