"""``sensormoco pretrain --data ROOT --mode MODE --out DIR``: MoCo-v2 pre-training.

Settings come from ``--config`` (a YAML file or a preset name), then the flags given here.
Multi-GPU / multi-node runs: ``--devices N --num-nodes M --strategy ddp``; launch one process
per node with ``torchrun`` or one task per GPU under SLURM (``srun``), Lightning reads either.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# The training stack (torch, Lightning) is imported when the command runs, so that the other
# commands start fast; the names below are checked against it by the tests.
MODE_NAMES = (
    "augment, sensor-pairs, sensor-pairs-augment, fusion-all, fusion-partial, fusion-optional"
)
PRESET_NAMES = "paper, cpu-small"

# flag -> (config key, type, help)
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
    "--encoder": ("encoder", str, "shared, or per-sensor (an S1 and an S2 network; sensor pairs)"),
    "--lr": ("lr", float, "learning rate"),
    "--seed": ("seed", int, "seed"),
    "--subset": ("subset", str, "ids.txt restricting the patches (test scenes never enter)"),
    "--devices": ("devices", int, "devices per node"),
    "--num-nodes": ("num_nodes", int, "nodes"),
    "--strategy": ("strategy", str, "Lightning strategy (auto, ddp, ...)"),
    "--accelerator": ("accelerator", str, "cpu, gpu or auto"),
    "--precision": ("precision", str, "32, bf16-mixed or 16-mixed"),
    "--workers": (
        "num_workers",
        int,
        "loader processes per training process (default: its cores less one)",
    ),
    "--log-every": ("log_every_n_steps", int, "steps between logged rows"),
    "--checkpoint-every": ("checkpoint_every_n_steps", int, "steps between checkpoints"),
}


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
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="run directory")
    parser.add_argument("--mode", help=f"pre-training mode: {MODE_NAMES} (or `mode:` in --config)")
    parser.add_argument(
        "--config",
        metavar="FILE.yaml|PRESET",
        help=f"settings file or preset ({PRESET_NAMES}); the flags below override it",
    )
    for flag, (key, kind, text) in FLAGS.items():
        parser.add_argument(flag, dest=key, type=kind, help=text)
    parser.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="deterministic algorithms (exactly repeatable runs)",
    )
    parser.add_argument("--resume", action="store_true", help="continue DIR's last checkpoint")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.training.config import load_config
    from sensormoco.training.pretrain import run_pretrain

    keys = [key for key, _, _ in FLAGS.values()] + ["mode", "deterministic"]
    overrides: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    config = load_config(args.config, overrides)
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
