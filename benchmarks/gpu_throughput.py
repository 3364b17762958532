"""GPU pre-training throughput: sensormoco's Lightning pipeline at the paper's scale, and the
bare model on the same device.

    python -m benchmarks.gpu_throughput [--accelerator cuda] [--backbone resnet50] [--size 224]
        [--patch 256] [--batch 64] [--steps 30] [--warmup 10] [--repeats 3] [--workers N]
        [--precision bf16-mixed] [--root DIR]

    # smoke test on a CPU (tiny; the figures mean nothing):
    python -m benchmarks.gpu_throughput --accelerator cpu --backbone resnet18 --size 64 \\
        --patch 64 --batch 16 --steps 5 --warmup 2 --repeats 1 --workers 0

Data: a synthetic SEN12MS tree of ``--patch`` px patches (256 by default, the real SEN12MS patch
size), with enough scenes that a run reads each non-test patch at most once (no epoch boundary
inside a run), packed into a store; both written once into --root. The 224 px views are what
real pre-training makes of 256 px SEN12MS patches: the default augmentation (preset ``paper``)
takes a random 224 px crop of each patch on the device (then elastic transform, flips, blur,
brightness, contrast); nothing is upsampled.

Rows (each the median of ``--repeats`` runs, min-max alongside):

- sensormoco: :func:`run_pretrain` (mode fusion-all: 12 channels, 10 S2 land bands then VV,
  VH) from the store on ``--accelerator``, i.e. the real pipeline: ``--workers`` persistent
  loader processes, pinned memory and channels_last on CUDA (PretrainModule and
  PretrainDataModule decide both; the table shows what ran), augmentation on the device,
  ``--precision``; the project's defaults otherwise (queue 65,536, lr 0.03, ...). Step time:
  the interval between consecutive ``on_train_batch_end`` (device synchronised), so data wait,
  transfer, augmentation and Lightning's loop count; median of ``--steps`` steps after
  ``--warmup`` (the run's last step, which writes the checkpoint, is left out).
- ceiling: the same network (``PretrainModule(config).moco``) on random tensors already on the
  device, bf16 autocast (when ``--precision`` is bf16-mixed) and channels_last: per step
  zero_grad, MoCo forward (query forward, key-encoder momentum update, key forward on the
  shuffled batch, InfoNCE against the queue, enqueue), backward, SGD step, synchronise.

Seconds per epoch are for SEN12MS's 180,662 pairs (the non-test part used by pre-training is
smaller) at the measured pairs/s.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import statistics
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from benchmarks.step_timing import StepTimes, bare_model_steps, timed_pretrain
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.data.store.format import is_store, open_store
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.training.config import PretrainConfig, load_config

SEN12MS_PAIRS = 180_662
GRID = 8  # patches per scene side of the synthetic tree
TEST_SHARE = 1 / 8  # synth: one scene in each block of 8 is a hold-out test scene


def bench_config(args: argparse.Namespace) -> PretrainConfig:
    """The run's config: fusion-all, the project's defaults but for the flags."""
    return load_config(None, {
        "mode": "fusion-all", "backbone": args.backbone, "batch_size": args.batch,
        "crop_size": args.size, "max_steps": args.warmup + args.steps + 1,
        "precision": args.precision, "num_workers": args.workers,
        "accelerator": args.accelerator, "devices": 1,
    })  # fmt: skip


def pipeline(config: PretrainConfig, store: Path, work: Path, steps: int, warmup: int
             ) -> StepTimes:  # fmt: skip
    """Step times of run_pretrain from the store."""
    with contextlib.redirect_stdout(sys.stderr):  # Lightning's summary and progress bar
        return timed_pretrain(config, store, work, steps, warmup)


def prepare_data(root: Path, patch: int, pairs: int) -> tuple[Path, int]:
    """A store of at least ``pairs`` non-test synthetic patches of ``patch`` px under ``root``
    (the tree and store written when absent); returns it and its non-test patch count."""
    per_scene = GRID * GRID * (1 - TEST_SHARE)
    scenes = max(8, math.ceil(pairs / per_scene) + 1)
    name = f"sen12ms_{scenes}x{GRID}x{patch}"
    tree, store = root / name, root / f"{name}.store"
    workers = os.cpu_count() or 1
    if not tree.exists():
        synthesize_sen12ms(tree, SynthConfig(scenes, GRID, patch), workers=workers)
    if not is_store(store):
        pack_sen12ms(tree, store, workers=workers)
    return store, sum(not is_test(pid) for pid in open_store(store).ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accelerator", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--size", type=int, default=224, help="view size, px")
    parser.add_argument("--patch", type=int, default=256, help="synthetic patch size, px")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps a run")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (>= 1)")
    parser.add_argument("--repeats", type=int, default=3)
    default_workers = max(1, min(12, (os.cpu_count() or 2) - 2))
    parser.add_argument("--workers", type=int, default=default_workers, help="loader workers")
    parser.add_argument("--precision", default="bf16-mixed", choices=["bf16-mixed", "32"])
    parser.add_argument("--root", type=Path, help="keep the tree and store here, reuse them")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if args.patch < args.size:
        parser.error(f"--patch {args.patch} is smaller than the views (--size {args.size})")
    if args.accelerator == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device; smoke-test with --accelerator cpu and tiny flags")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*(many workers|smaller than the logging).*")
    device = torch.device(args.accelerator)
    config = bench_config(args)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.root or work
        root.mkdir(parents=True, exist_ok=True)
        store, patches = prepare_data(root, args.patch, (args.warmup + args.steps + 1) * args.batch)
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
        print(
            f"{name}; torch {torch.__version__}, {os.cpu_count()} CPU(s); {args.backbone}, "
            f"fusion layout (12 channels), {args.size} px views of {args.patch} px patches, "
            f"batch {args.batch}, precision {args.precision}, {args.workers} loader worker(s), "
            f"{patches} non-test patches; medians of {args.steps} steps after {args.warmup} "
            f"warm-up, medians of {args.repeats} runs\n",
            flush=True,
        )
        bf16 = config.precision == "bf16-mixed"
        runs: dict[str, list[StepTimes]] = {"ceiling": [], "sensormoco": []}
        for _ in range(args.repeats):
            runs["ceiling"].append(
                bare_model_steps(config, args.steps, args.warmup, device, bf16, True)
            )
            runs["sensormoco"].append(pipeline(config, store, work, args.steps, args.warmup))
    rate = {}
    print("| row | memory format | median step s | pairs/s | runs' pairs/s | s per epoch |")
    print("|---|---|---:|---:|---:|---:|")
    for row, results in runs.items():
        rates = [args.batch / statistics.median(r.times) for r in results]
        rate[row] = statistics.median(rates)
        layout = "channels_last" if results[0].channels_last else "NCHW"
        spread = f"{min(rates):,.1f}-{max(rates):,.1f}"
        epoch = SEN12MS_PAIRS / rate[row]
        print(f"| {row} | {layout} | {args.batch / rate[row]:.3f} | {rate[row]:,.1f} | {spread} | "
              f"{epoch:,.0f} |")  # fmt: skip
    share = rate["sensormoco"] / rate["ceiling"]
    print(f"\nsensormoco / ceiling: {share:.0%}; s per epoch: {SEN12MS_PAIRS:,} pairs at pairs/s")


if __name__ == "__main__":
    main()
