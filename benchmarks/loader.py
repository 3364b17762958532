"""Loader benchmark: SEN12MS tree vs packed store, and peak RSS against the store's size.

    python -m benchmarks.loader [--scenes 16] [--grid 4] [--size 128] [--repeats 3]
                                [--workers 0 1 2] [--rss-small 2000] [--rss-large 20000]
                                [--skip-rss] [--work DIR]

1. Throughput: a synthetic tree of 128 px patches is packed into a store; a DataLoader
   (batch 32, random order) over each reads pairs at each of --workers. A pair is one
   location's two views of s1s2 at 128 px as pre-training's loader delivers them: s1
   (VV, VH) and s2 (10 land bands), preprocessed, crossing from the workers raw (S2 int16,
   S1 float32 dB) and standardised in the main process (``standardize``; on a GPU the
   datamodule does it on the device); the crops and augmentations of the modes run on
   batches, on the device. "store" reads a batch at a time (``StoreDataset.__getitems__``)
   into batch buffers that the workers reuse once the main process has released them
   (``reuse_buffers``, data/store/batch_pool.py: pre-training's path on the CPU); "fresh
   buffers" is the same read into a new shared buffer per batch (pre-training's path on
   CUDA, where the pinning thread copies every batch); "per-sample" is the former path
   (``__getitem__`` per sample, then ``default_collate``). pairs/s counts the batches after
   the first (worker start-up excluded); medians of --repeats runs; ratios within this run
   (--tree-samples 0 skips the tree).
2. Cost breakdown: CPU time (``time.thread_time``, so little affected by other processes)
   per batch of the steps in one process (read, S1/S2 cleaning, collate, standardise) and of
   the main process's share with 2 workers (receiving a batch from shared memory, then
   standardising and releasing it), and the throughput they bound on a machine with free
   cores.
3. Peak RSS (benchmarks/loader_rss.py): pre-training's loading (non-test patches, 2 workers,
   batch 64, --rss-batches batches in random order) from a --rss-small store and a
   --rss-large one, each in a fresh child process.

--work keeps the trees and stores in DIR and reuses them on the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, RandomSampler, default_collate

from benchmarks.loader_rss import dataset_norms, peak_rss
from sensormoco.data.sen12ms.layout import clean_s1_, clip_s2_raw_
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.data.sources import open_patches, standardize
from sensormoco.data.store.batch_pool import release_batch
from sensormoco.data.store.dataset import StoreDataset, collate_samples
from sensormoco.data.store.format import is_store
from sensormoco.data.store.pack import pack_sen12ms


class PerSample(Dataset[dict[str, Tensor]]):
    """``dataset`` without its batched read: the former per-sample path."""

    def __init__(self, dataset: Dataset[dict[str, Tensor]]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.dataset[index]


def pairs_per_second(
    source: Path,
    workers: int,
    samples: int,
    batch: int,
    seed: int,
    batched: bool = True,
    reuse: bool = True,
) -> float:
    """Pairs/s of one pass of ``samples`` random pairs, timed from the first batch on, as
    pre-training loads them (raw from the workers, standardised here, then released);
    ``batched``: a store's batch read at once (else sample by sample and
    ``default_collate``); ``reuse``: the workers reuse released batch buffers."""
    dataset = open_patches(source, raw=True).dataset
    if isinstance(dataset, StoreDataset):
        dataset.reuse_buffers = reuse
    norms = dataset_norms(dataset)
    sampler = RandomSampler(
        dataset,
        replacement=True,
        num_samples=samples,
        generator=torch.Generator().manual_seed(seed),
    )
    loader = DataLoader(
        dataset if batched else PerSample(dataset),
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_samples,
    )
    iterator = iter(loader)
    next(iterator)
    start, count = time.perf_counter(), 0
    for item in iterator:
        standardized = standardize(item, *norms)
        release_batch(item)
        count += len(standardized["index"])
    return count / (time.perf_counter() - start)


@dataclass(frozen=True)
class RateCase:
    """One row cell of the throughput table: ``repeats`` runs of :func:`pairs_per_second`."""

    source: Path
    workers: int
    samples: int
    batch: int
    repeats: int
    batched: bool
    reuse: bool

    def run(self) -> list[float]:
        return [
            pairs_per_second(
                self.source, self.workers, self.samples, self.batch, seed, self.batched, self.reuse
            )
            for seed in range(self.repeats)
        ]

    def run_in_child(self) -> list[float]:
        """:meth:`run` in a fresh process: what ran before in this one (its heap, the kernel
        pages it holds, the workers it forked) changes a loader's rate by up to 2x."""
        case = json.dumps({**asdict(self), "source": str(self.source)})
        command = [sys.executable, "-m", "benchmarks.loader", "--rate-child", case]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rates: list[float] = json.loads(out.strip().splitlines()[-1])
        return rates


def breakdown(store: Path, batch: int, batches: int) -> None:
    """CPU ms per batch of each step, in one process and in the main one with 2 workers."""
    dataset = open_patches(store, raw=True).dataset
    assert isinstance(dataset, StoreDataset)
    norms = dataset_norms(dataset)
    generator = torch.Generator().manual_seed(0)
    costs: dict[str, list[float]] = {}

    def timed(name: str, step: Callable[..., Any], *args: Any) -> Any:
        start = time.thread_time()
        out = step(*args)
        costs.setdefault(name, []).append(time.thread_time() - start)
        return out

    for _ in range(batches):
        indices = torch.randint(len(dataset), (batch,), generator=generator).tolist()
        samples = timed("per sample: __getitem__ x batch", list, map(dataset.__getitem__, indices))
        timed("per sample: default_collate", default_collate, samples)
        got = timed("batched: __getitems__ (read + clean)", dataset.__getitems__, indices)
        raw = collate_samples(got)
        timed("batched: of which S1 clean", clean_s1_, raw["s1"].numpy())
        timed("batched: of which S2 clip", clip_s2_raw_, raw["s2"].numpy().view(np.uint16))
        timed("standardise (main process)", standardize, raw, *norms)
    for standardise in (False, True):
        sampler = RandomSampler(dataset, num_samples=batches * batch, generator=generator)
        dataset.reuse_buffers = True
        loader = DataLoader(
            dataset, batch, sampler=sampler, num_workers=2, collate_fn=collate_samples
        )
        iterator = iter(loader)
        next(iterator)
        name = "2 workers, main: receive" + (" + standardise" if standardise else "")
        name += " + release"
        for _ in range(batches - 1):
            item = timed(name, next, iterator)
            start = time.thread_time()
            if standardise:
                standardize(item, *norms)
            release_batch(item)
            costs[name][-1] += time.thread_time() - start
    ms = {name: statistics.median(values) * 1e3 for name, values in costs.items()}
    print(f"\nCPU ms per batch of {batch} (thread time, medians of {batches} batches)\n")
    print("| step | CPU ms / batch |\n|---|---:|")
    for name, value in ms.items():
        print(f"| {name} | {value:.2f} |")
    read = ms["batched: __getitems__ (read + clean)"]
    single = read + ms["standardise (main process)"]
    main = ms["2 workers, main: receive + standardise + release"]
    print(
        f"\nbound, 0 workers: {batch / single * 1e3:,.0f} pairs/s; w workers on free cores: "
        f"min(w x {batch / read * 1e3:,.0f}, main {batch / main * 1e3:,.0f}) pairs/s "
        f"(2 workers: {min(2 * batch / read, batch / main) * 1e3:,.0f}, "
        f"{min(2 * single / read, single / main):.2f}x 0 workers)"
    )


def tree_and_store(work: Path, config: SynthConfig) -> tuple[Path, Path, float]:
    """Synthesise (once) a tree and pack it (once); return both and the pack rate."""
    name = f"tree_{config.scenes}x{config.grid}x{config.size}"
    tree, store = work / name, work / f"{name}.store"
    if not tree.exists():
        synthesize_sen12ms(tree, config, workers=2)
    rate = 0.0
    if not is_store(store):
        summary = pack_sen12ms(tree, store, workers=2)
        rate = summary.rows / summary.seconds
    return tree, store, rate


def throughput(args: argparse.Namespace, work: Path) -> None:
    tree, store, pack_rate = tree_and_store(work, SynthConfig(args.scenes, args.grid, args.size))
    packed = f"pack (2 workers): {pack_rate:,.0f} patches/s" if pack_rate else "store reused"
    print(
        f"\n{len(open_patches(store).ids)} patches of {args.size} px; {packed}; batch "
        f"{args.batch}; medians of {args.repeats} runs\n"
    )
    print(
        "| loader workers | tree pairs/s | store / tree | store pairs/s (buffers reused) | "
        "/ 0 workers | store, fresh buffers | / 0 workers | store per-sample (former) | "
        "/ 0 workers |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    cases = {
        "store": (store, args.store_samples, True, True),
        "fresh": (store, args.store_samples, True, False),
        "per-sample": (store, args.store_samples, False, False),
    }
    if args.tree_samples:
        cases["tree"] = (tree, args.tree_samples, True, False)
    first: dict[str, float] = {}
    for workers in args.workers:
        rates = {}
        for name, (source, samples, batched, reuse) in cases.items():
            case = RateCase(source, workers, samples, args.batch, args.repeats, batched, reuse)
            rates[name] = statistics.median(case.run_in_child())
            first.setdefault(name, rates[name])
        tree_cells = (
            f"{rates['tree']:,.0f} | {rates['store'] / rates['tree']:.1f}x"
            if "tree" in rates
            else "- | -"
        )
        print(
            f"| {workers} | {tree_cells} | {rates['store']:,.0f} | "
            f"{rates['store'] / first['store']:.2f}x | {rates['fresh']:,.0f} | "
            f"{rates['fresh'] / first['fresh']:.2f}x | "
            f"{rates['per-sample']:,.0f} | {rates['per-sample'] / first['per-sample']:.2f}x |",
            flush=True,
        )
    breakdown(store, args.batch, args.breakdown_batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--grid", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[0, 1, 2],
        help="loader workers, a row each (first: the baseline)",
    )
    parser.add_argument("--tree-samples", type=int, default=480, help="pairs per tree run")
    parser.add_argument("--store-samples", type=int, default=6400, help="pairs per store run")
    parser.add_argument("--rss-small", type=int, default=2000)
    parser.add_argument("--rss-large", type=int, default=20000)
    parser.add_argument("--rss-size", type=int, default=32)
    parser.add_argument("--rss-batches", type=int, default=100)
    parser.add_argument("--rss-batch", type=int, default=64)
    parser.add_argument("--breakdown-batches", type=int, default=40)
    parser.add_argument("--skip-rss", action="store_true", help="throughput only")
    parser.add_argument("--work", type=Path, help="keep trees and stores here, reuse them")
    parser.add_argument("--rate-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rate_child:
        torch.set_num_threads(1)
        fields = json.loads(args.rate_child)
        print(json.dumps(RateCase(**{**fields, "source": Path(fields["source"])}).run()))
        return
    # per-sample tensors are small: torch's intra-op threads only contend for the cores (the
    # DataLoader sets 1 thread in its workers; this does the same for 0 workers)
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPU(s), load average "
        f"{os.getloadavg()[0]:.1f} at start"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        throughput(args, work)
        if not args.skip_rss:
            peak_rss(args, work)


if __name__ == "__main__":
    main()
