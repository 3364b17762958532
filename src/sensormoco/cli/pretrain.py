"""``sensormoco pretrain --data ROOT --mode MODE --out DIR``: MoCo-v2 pre-training.

Settings come from ``--config`` (a YAML file or a preset name), then the flags given here.
Multi-GPU / multi-node runs: ``--devices N --num-nodes M --strategy ddp``; launch one process
per node with ``torchrun`` or one task per GPU under SLURM (``srun``), Lightning reads either.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sensormoco import defaults
from sensormoco.cli.parser import add_output, deprecate, existing_file, folder_problem
from sensormoco.rundir import check_run_folder

# The training stack (torch, Lightning) is imported when the command runs, so that the other
# commands start fast; the names below are checked against it by the tests.
MODE_NAMES = (
    "augment, sensor-pairs, sensor-pairs-augment, fusion-all, fusion-partial, fusion-optional"
)
PRESET_NAMES = "paper, cpu-small"

# flag -> (config key, type, help); the config's own default is shown from DEFAULTS
FLAGS: dict[str, tuple[str, type, str]] = {
    "--backbone": ("backbone", str, "backbone (resnet18, resnet34, resnet50)"),
    "--adapter": ("adapter", str, "input adapter (conv1, 1x1, zero-pad)"),
    "--augment": ("augment", str, "augmentation preset (none, paper, aug1, aug2, aug3, auto)"),
    "--input": ("input", str, "input of mode augment (s1, s2, s1s2)"),
    "--epochs": ("epochs", int, "epochs"),
    "--max-steps": ("max_steps", int, "stop after this many steps (the schedule spans them)"),
    "--batch-size": ("batch_size", int, "batch size per process"),
    "--crop-size": ("crop_size", int, "crop size in pixels"),
    "--queue-size": ("queue_size", int, "negative keys (a multiple of global batch x segments)"),
    "--negatives": ("negatives", str, "shared, cross-sensor or auto (sensor pairs: cross)"),
    "--bn-splits": ("bn_splits", int, "batch-norm sub-batches per process"),
    "--encoder-kind": ("encoder", str, "shared, or per-sensor (an S1 and an S2 network; pairs)"),
    "--lr": ("lr", float, "learning rate"),
    "--seed": ("seed", int, "seed"),
    "--ids": ("subset", str, "ids.txt restricting the patches (test scenes never enter)"),
    "--devices": ("devices", int, "devices per node"),
    "--num-nodes": ("num_nodes", int, "nodes"),
    "--strategy": ("strategy", str, "Lightning strategy (auto, ddp, ...)"),
    "--accelerator": ("accelerator", str, "cpu, gpu or auto"),
    "--precision": ("precision", str, "32, bf16-mixed or 16-mixed"),
    "--loader-workers": (
        "num_workers",
        int,
        "DataLoader processes per training process (default: its cores less one)",
    ),
    "--log-every": ("log_every_n_steps", int, "steps between logged rows"),
    "--checkpoint-every": ("checkpoint_every_n_steps", int, "steps between checkpoints"),
}
# old spelling -> new one (kept working for one release)
RENAMED = {"--subset": "--ids", "--workers": "--loader-workers"}
# PretrainConfig's defaults (checked against it by the tests; importing it here is slow)
DEFAULTS: dict[str, object] = {
    "backbone": defaults.BACKBONE,
    "adapter": defaults.ADAPTER,
    "augment": "auto",
    "input": defaults.PRETRAIN_INPUT,
    "epochs": defaults.PRETRAIN_EPOCHS,
    "batch_size": defaults.PRETRAIN_BATCH_SIZE,
    "crop_size": defaults.PRETRAIN_CROP_SIZE,
    "queue_size": defaults.MOCO_QUEUE_SIZE,
    "negatives": "auto",
    "bn_splits": defaults.MOCO_BN_SPLITS,
    "encoder": "shared",
    "lr": defaults.PRETRAIN_LR,
    "seed": defaults.SEED,
    "devices": 1,
    "num_nodes": 1,
    "strategy": "auto",
    "accelerator": "auto",
    "precision": defaults.PRETRAIN_PRECISION,
    "num_workers": defaults.PRETRAIN_WORKERS,
    "log_every_n_steps": defaults.PRETRAIN_LOG_EVERY,
    "checkpoint_every_n_steps": defaults.PRETRAIN_CHECKPOINT_EVERY,
}
INPUT_FLAGS = {"--ids": existing_file("--ids")}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "MoCo-v2 pre-training on geo-aligned S1/S2 pairs"
    parser = subparsers.add_parser("pretrain", help=help_text, description=help_text)
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="ROOT",
        help="SEN12MS root, packed store or BigEarthNet v2 root",
    )
    add_output(parser, "run directory (new or empty; or --resume)", "DIR", old=None)
    parser.add_argument("--mode", help=f"pre-training mode: {MODE_NAMES} (or `mode:` in --config)")
    parser.add_argument(
        "--config",
        metavar="FILE.yaml|PRESET",
        help=f"settings file or preset ({PRESET_NAMES}); the flags below override it and "
        "default to its values, else to the ones shown",
    )
    old = {new: o for o, new in RENAMED.items()}
    for flag, (key, kind, text) in FLAGS.items():
        names = [flag] + ([old[flag]] if flag in old else [])
        shown = DEFAULTS.get(key)
        text = text if shown is None else f"{text} (default: {shown})"
        action = parser.add_argument(
            *names,
            dest=key,
            type=INPUT_FLAGS.get(flag, kind),
            metavar=flag[2:].replace("-", "_").upper(),
            help=text,
        )
        if flag in old:
            deprecate(action, old[flag], flag)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="deterministic algorithms (exactly repeatable runs)",
    )
    parser.add_argument(
        "--symmetric",
        action="store_true",
        default=None,
        help="sensor pairs: both directions of every location each step (docs/pretraining.md)",
    )
    parser.add_argument("--resume", action="store_true", help="continue DIR's last checkpoint")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    check_run_folder(args.out, args.resume)  # before the slow imports and the scan
    from sensormoco.rundir import run_folder
    from sensormoco.training.config import load_config
    from sensormoco.training.pretrain import CHECKPOINT, run_pretrain

    keys = [key for key, _, _ in FLAGS.values()] + ["mode", "deterministic", "symmetric"]
    overrides: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    if "subset" in overrides:
        overrides["subset"] = str(overrides["subset"])
    config = load_config(args.config, overrides)
    problem = folder_problem(args.data)  # after the settings, before the scan
    if problem:
        raise ValueError(problem)
    with run_folder(args.out, args.resume, resumable=[str(CHECKPOINT)]):
        s = run_pretrain(config, args.data, args.out, resume=args.resume)
    loss = "n/a" if s["recent_loss"] is None else f"{s['recent_loss']:.4f}"
    acc = "n/a" if s["recent_pos_acc"] is None else f"{s['recent_pos_acc']:.3f}"
    rate = "n/a" if s["pairs_per_s"] is None else f"{s['pairs_per_s']:.1f}"
    print(
        f"pretrained {config.mode}: {s['steps']} steps ({s['epochs']} epochs) in "
        f"{s['seconds']:.1f} s; last {s['recent_steps']} steps: loss {loss}, positive top-1 {acc}; "
        f"{rate} pairs/s; "
        f"wrote {args.out / 'summary.json'} and {args.out / s['encoder']}"
    )
    return 0
