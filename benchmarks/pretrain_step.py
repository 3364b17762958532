"""Pre-training step throughput on CPU: the bare model, sensormoco's pipeline, torchgeo's MoCo.

    python -m benchmarks.pretrain_step [--backbone resnet18] [--size 128] [--batch 16]
        [--steps 20] [--warmup 5] [--repeats 3] [--workers 0] [--torchgeo-workers 0 1]
        [--augment auto] [--scenes 16] [--grid 8] [--root DIR] [--skip-torchgeo] [--threads N]

One job throughout: MoCo v2 on the 12-channel fusion layout (10 S2 land bands, then VV, VH),
``--size`` px views, ``--batch`` pairs a step, the project's defaults otherwise (queue 65,536,
temperature 0.2, lr 0.03, key momentum 0.999, SGD momentum 0.9, weight decay 1e-4). Data: a
synthetic SEN12MS tree of ``--scenes`` x ``--grid``² patches of ``--size`` px
(:func:`synthesize_sen12ms`) and its store (:func:`pack_sen12ms`), written once into --root;
only the non-test patches are read. Rows:

- ceiling: the network of the pipeline (``PretrainModule(config).moco``: timm backbone,
  projection head, momentum key encoder, queue) stepped on random N x 12 x size x size float32
  tensors, without data, augmentation or Lightning. A step is: zero_grad, MoCo forward (query
  encoder forward, momentum update of the key encoder, key forward on the shuffled batch,
  InfoNCE against the queue, enqueue), backward, SGD step (momentum, weight decay). fp32 and
  bf16 autocast, each in NCHW and in channels_last (model and inputs).
- sensormoco: :func:`run_pretrain` from the store, mode fusion-all, augmentation ``--augment``
  (auto: the default preset, ``paper``) on the batch, for each of ``--workers``; precision "32"
  and "bf16-mixed"; the memory format is PretrainModule's choice (shown).
- sensormoco, crop only: the same in mode sensor-pairs, whose views are only cropped (same
  size, same network): what the data path and Lightning's loop cost without augmentation.
- torchgeo (skipped, with the reason, when not installed): ``torchgeo.trainers.MoCoTask``
  (version 2, the same backbone, in_channels 12, 2-layer head of the backbone's width to 128,
  the same lr, weight decay, momenta, temperature and queue) on ``torchgeo.datasets.SEN12MS``
  reading the same tree (the 12 bands in fusion order; its train_list.txt / test_list.txt are
  written into the tree from our non-test / test ids; it also reads each patch's lc file), a
  plain shuffled DataLoader for each of ``--torchgeo-workers``, and per sample S1 NaN -> 0 and
  SEN12MSDataModule's scaling (S1 / -25, S2 / 1e4). MoCoTask brings its own MoCo v2
  augmentations (random resized crop, brightness, contrast, grayscale, blur, flips) and runs
  NCHW.

A pipeline's step time is the interval between consecutive ``on_train_batch_end`` (data wait,
augmentation, Lightning's loop included), as PretrainModule's logged ``pairs_per_s``; a run
takes ``--warmup`` + ``--steps`` + 1 steps and the median of the ``--steps`` intervals after the
warm-up (the last step, which writes sensormoco's checkpoint, is left out). Each row is the
median of ``--repeats`` runs (min-max alongside), variants interleaved within a repeat; ratios
are of those medians, within this run, each pipeline at its fastest worker count and the
ceiling in its faster memory format. pairs/s = batch / median step time.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import sys
import tempfile
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from benchmarks.step_timing import StepTimer, StepTimes, bare_model_steps, timed_pretrain
from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS
from sensormoco.data.sen12ms.splits import is_test
from sensormoco.data.sen12ms.synth import SynthConfig, synthesize_sen12ms
from sensormoco.data.store.format import is_store, open_store
from sensormoco.data.store.pack import pack_sen12ms
from sensormoco.training.config import PretrainConfig, load_config
from sensormoco.training.datamodule import loader_workers
from sensormoco.training.pretrain import PretrainModule

PRECISIONS = {"fp32": "32", "bf16": "bf16-mixed"}  # label -> Lightning precision
# sensormoco's pipeline with views only cropped (mode sensor-pairs): data path and loop alone
CROP_ONLY = "sensormoco, crop only"
LAYOUTS = ("NCHW", "channels_last")
# torchgeo's SEN12MS names the S2 bands B01 ... B12; ours B1 ... B12
TORCHGEO_BANDS = tuple(b if len(b) == 3 else f"B0{b[1]}" for b in S2_LAND_BANDS) + S1_BANDS
# SEN12MSDataModule's per-band divisors: S1 dB / -25, S2 reflectance x 1e4 / 1e4
TORCHGEO_SCALE = torch.tensor([1e4] * len(S2_LAND_BANDS) + [-25.0] * len(S1_BANDS))  # 12


class Variant(NamedTuple):
    """One row: pipeline, precision label, memory format (ceiling only), loader workers."""

    pipeline: str
    precision: str
    layout: str = ""
    workers: int = -1


def bench_config(
    args: argparse.Namespace, precision: str, workers: int = 0, mode: str = "fusion-all"
) -> PretrainConfig:
    """The pre-training config of every row (fusion-all, project defaults otherwise; the
    crop-only rows run sensor-pairs, whose views are the same size and are only cropped)."""
    return load_config(None, {
        "mode": mode, "backbone": args.backbone, "batch_size": args.batch,
        "crop_size": args.size, "augment": "auto" if mode == "sensor-pairs" else args.augment,
        "negatives": "shared",  # the ceiling's queue, in every row
        "max_steps": args.warmup + args.steps + 1, "precision": precision,
        "num_workers": workers, "accelerator": "cpu",
    })  # fmt: skip


def ceiling(config: PretrainConfig, steps: int, warmup: int, bf16: bool, last: bool) -> StepTimes:
    """Step times of the bare MoCo network on random tensors on the CPU."""
    return bare_model_steps(config, steps, warmup, torch.device("cpu"), bf16, last)


def torchgeo_scale(sample: dict[str, Tensor]) -> dict[str, Tensor]:
    """S1 NaN -> 0 and SEN12MSDataModule's per-band scaling of one sample's image."""
    image = torch.nan_to_num(sample["image"].float())  # 12 x H x W
    return sample | {"image": image / TORCHGEO_SCALE.view(-1, 1, 1)}


def torchgeo_run(config: PretrainConfig, tree: Path, steps: int, warmup: int) -> StepTimes:
    """Step times of torchgeo's MoCoTask on torchgeo's SEN12MS reading the tree."""
    from torchgeo.datasets import SEN12MS
    from torchgeo.trainers import MoCoTask

    L.seed_everything(config.seed, verbose=False)
    dataset = SEN12MS(tree, "train", TORCHGEO_BANDS, torchgeo_scale, checksum=False)
    workers = loader_workers(config.num_workers)
    loader = DataLoader(
        dataset, batch_size=config.batch_size, shuffle=True, drop_last=True,
        num_workers=workers, persistent_workers=workers > 0,
        generator=torch.Generator().manual_seed(config.seed),
    )  # fmt: skip
    width = PretrainModule(config).moco.encoder_q.backbone.num_features
    task = MoCoTask(
        model=config.backbone, in_channels=len(TORCHGEO_BANDS), version=2, layers=2,
        hidden_dim=width, output_dim=config.dim, lr=config.lr, weight_decay=config.weight_decay,
        momentum=config.sgd_momentum, temperature=config.temperature,
        memory_bank_size=config.queue_size, moco_momentum=config.key_momentum,
        size=config.crop_size,
    )  # fmt: skip
    timer = StepTimer()
    trainer = L.Trainer(
        accelerator="cpu", devices=1, precision=config.precision,  # type: ignore[arg-type]
        max_steps=config.max_steps or -1, logger=False, enable_checkpointing=False,
        enable_model_summary=False, num_sanity_val_steps=0, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(task, train_dataloaders=loader)
    return timer.result(steps, warmup)


def prepare_data(root: Path, config: SynthConfig) -> tuple[Path, Path]:
    """The synthetic tree and its store under ``root`` (written when absent), and torchgeo's
    split lists in the tree (non-test ids: train_list.txt; test ids: test_list.txt)."""
    name = f"sen12ms_{config.scenes}x{config.grid}x{config.size}"
    tree, store = root / name, root / f"{name}.store"
    workers = min(os.cpu_count() or 1, 8)
    if not tree.exists():
        synthesize_sen12ms(tree, config, workers=workers)
    if not is_store(store):
        pack_sen12ms(tree, store, workers=workers)
    ids = open_store(store).ids
    for split, test in (("train", False), ("test", True)):
        if not (tree / f"{split}_list.txt").is_file():
            names = "".join(f"{pid.filename('s2')}\n" for pid in ids if is_test(pid) == test)
            (tree / f"{split}_list.txt").write_text(names, encoding="utf-8")
    return tree, store


def torchgeo_version() -> str:
    """torchgeo's version, or '' when MoCoTask cannot be imported (printed with the reason)."""
    try:
        import torchgeo
        from torchgeo.trainers import MoCoTask  # noqa: F401 (needs requests, lightly)
    except ImportError as exc:
        print(f"torchgeo rows skipped: {exc} (pip install -e '.[bench]')\n")
        return ""
    return str(torchgeo.__version__)


def run_all(
    args: argparse.Namespace, tree: Path, store: Path, work: Path, torchgeo: bool
) -> dict[Variant, list[StepTimes]]:
    """Every variant --repeats times, interleaved within each repeat."""
    variants: dict[Variant, Callable[[], StepTimes]] = {}
    for label, precision in PRECISIONS.items():
        config = bench_config(args, precision)
        for layout in LAYOUTS:
            bf16, last = label == "bf16", layout == "channels_last"
            variants[Variant("ceiling", label, layout)] = partial(
                ceiling, config, args.steps, args.warmup, bf16, last
            )
    for label, precision in PRECISIONS.items():
        for w in args.workers:
            config = bench_config(args, precision, w)
            variants[Variant("sensormoco", label, workers=w)] = partial(
                timed_pretrain, config, store, work, args.steps, args.warmup
            )
            config = bench_config(args, precision, w, mode="sensor-pairs")
            variants[Variant(CROP_ONLY, label, workers=w)] = partial(
                timed_pretrain, config, store, work, args.steps, args.warmup
            )
        for w in args.torchgeo_workers if torchgeo else []:
            config = bench_config(args, precision, w)
            variants[Variant("torchgeo", label, workers=w)] = partial(
                torchgeo_run, config, tree, args.steps, args.warmup
            )
    runs: dict[Variant, list[StepTimes]] = {variant: [] for variant in variants}
    for _ in range(args.repeats):
        for variant, run in variants.items():
            with contextlib.redirect_stdout(sys.stderr):  # Lightning's summary and progress bar
                runs[variant].append(run())
    return runs


def report(batch: int, runs: dict[Variant, list[StepTimes]]) -> None:
    """The rows table and the ratios, from the medians of the runs."""
    rate: dict[Variant, float] = {}
    print("| pipeline | precision | memory format | loader workers | median step s | pairs/s "
          "| runs' pairs/s |\n|---|---|---|---:|---:|---:|---:|")  # fmt: skip
    for v, results in runs.items():
        rates = [batch / statistics.median(r.times) for r in results]
        rate[v] = statistics.median(rates)
        layout = "channels_last" if results[0].channels_last else "NCHW"
        precision = "bf16 autocast" if v.precision == "bf16" else "fp32"
        workers = "-" if v.workers < 0 else str(v.workers)
        print(f"| {v.pipeline} | {precision} | {layout} | {workers} | {batch / rate[v]:.3f} | "
              f"{rate[v]:,.1f} | {min(rates):,.1f}-{max(rates):,.1f} |")  # fmt: skip

    def best(pipeline: str, precision: str) -> float:
        found = [r for v, r in rate.items() if v.pipeline == pipeline and v.precision == precision]
        return max(found, default=float("nan"))

    ours = {p: best("sensormoco", p) for p in PRECISIONS}
    share = {p: f"{ours[p] / best('ceiling', p):.0%}" for p in PRECISIONS}
    print(
        "\n| ratio (fastest format / workers of each) | fp32 | bf16 | goal |\n|---|---:|---:|---|"
    )
    print(f"| sensormoco / ceiling | {share['fp32']} | {share['bf16']} | >= 90 % |")
    crop = {p: f"{best(CROP_ONLY, p) / best('ceiling', p):.0%}" for p in PRECISIONS}
    print(f"| {CROP_ONLY} / ceiling | {crop['fp32']} | {crop['bf16']} | (data path + loop) |")
    if any(v.pipeline == "torchgeo" for v in rate):
        vs = {p: f"{ours[p] / best('torchgeo', p):.2f}x" for p in PRECISIONS}
        print(
            f"| sensormoco / torchgeo | {vs['fp32']} | {vs['bf16']} | >= 1.8x fp32, >= 2.5x bf16 |"
        )
    speedups = [  # (faster, slower): precision, memory format of the ceiling
        (("bf16", "channels_last"), ("fp32", "NCHW")),
        (("bf16", "channels_last"), ("fp32", "channels_last")),
        (("fp32", "channels_last"), ("fp32", "NCHW")),
        (("bf16", "channels_last"), ("bf16", "NCHW")),
    ]
    print("\n| speed-up | ratio | goal |\n|---|---:|---|")
    for fast, slow in speedups:
        value = rate[Variant("ceiling", *fast)] / rate[Variant("ceiling", *slow)]
        goal = ">= 1.8x" if fast[0] != slow[0] else ""
        print(f"| ceiling: {' '.join(fast)} / {' '.join(slow)} | {value:.2f}x | {goal} |")
    print(f"| sensormoco: bf16 / fp32 | {ours['bf16'] / ours['fp32']:.2f}x | >= 1.8x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--size", type=int, default=128, help="view (and patch) size, px")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="timed steps a run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first (>= 1)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0],
                        help="sensormoco's loader workers, a row each")  # fmt: skip
    parser.add_argument("--torchgeo-workers", type=int, nargs="+", default=[0, 1],
                        help="torchgeo's loader workers, a row each")  # fmt: skip
    parser.add_argument("--augment", default="auto", help="sensormoco's augmentation preset")
    parser.add_argument("--scenes", type=int, default=16)
    parser.add_argument("--grid", type=int, default=8)
    parser.add_argument("--root", type=Path, help="keep the tree and store here, reuse them")
    parser.add_argument("--skip-torchgeo", action="store_true")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1:
        parser.error("--warmup and --steps must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*(many workers|smaller than the logging).*")
    torchgeo = "" if args.skip_torchgeo else torchgeo_version()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = args.root or work
        root.mkdir(parents=True, exist_ok=True)
        tree, store = prepare_data(root, SynthConfig(args.scenes, args.grid, args.size))
        patches = sum(not is_test(pid) for pid in open_store(store).ids)
        needed = (args.warmup + args.steps + 1) * args.batch
        print(
            f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} "
            f"CPU(s), load average {os.getloadavg()[0]:.1f} at start; torchgeo "
            f"{torchgeo or 'not run'}\n{args.backbone}, fusion layout ({len(TORCHGEO_BANDS)} "
            f"channels), {args.size} px, batch {args.batch}, {patches} non-test patches "
            f"({needed} read a run); medians of {args.steps} steps after {args.warmup} "
            f"warm-up, medians of {args.repeats} runs\n",
            flush=True,
        )
        if needed > patches:
            print("note: a run crosses an epoch boundary; raise --scenes to avoid it\n")
        runs = run_all(args, tree, store, work, bool(torchgeo))
    report(args.batch, runs)


if __name__ == "__main__":
    main()
