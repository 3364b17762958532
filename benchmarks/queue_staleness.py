"""How much of a MoCo run's loss and top-1 comes from stale negatives? For each checkpoint, the
training loss and positive top-1 of a few batches against the checkpoint's own queue (keys of
the key encoder of the last K / keys-per-step steps) and against a queue of the same size
refilled with keys of the checkpoint's key encoder (fresh keys of other locations).

    python -m benchmarks.queue_staleness --run RUN --root TREE CKPT [CKPT ...]

A positive key is always computed by the current key encoder, its negatives by older ones: a
query that tells fresh keys from stale ones finds its positive without finding its location.
The gap between the two rows is that shortcut; it grows with the encoder's drift per step
(learning rate) and vanishes as the drift does (the end of a cosine schedule). Copies of
``checkpoints/last.ckpt`` taken during a run give the checkpoints (it is overwritten every
``checkpoint_every_n_steps``). Nothing is trained: the key encoder is held fixed (momentum 1).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from torch import Tensor

from sensormoco.data.bands import Normalization
from sensormoco.models.losses import positive_accuracy
from sensormoco.training.config import PretrainConfig, load_config
from sensormoco.training.datamodule import PretrainDataModule, step_seed
from sensormoco.training.pretrain_module import CHANNELS_LAST_DEVICES, PretrainModule
from sensormoco.training.views import make_views

QUERY_BATCHES = 4  # batches whose loss is measured
REFILL_BATCHES = 10  # batches whose keys refill the queue (10 x 16 keys > a segment of 128)

View = tuple[Tensor, Tensor, Tensor | None]


def batches(data: PretrainDataModule, step: int, count: int) -> list[dict[str, Tensor]]:
    """The ``count`` batches of steps ``step``, ``step + 1``, ... (across epoch ends)."""
    out: list[dict[str, Tensor]] = []
    while len(out) < count:
        data.start_step = step + len(out)  # the sampler starts at the loader's current step
        for batch in data.train_dataloader():
            out.append(batch)
            if len(out) == count:
                break
    return out


def view(
    module: PretrainModule, config: PretrainConfig, batch: dict[str, Tensor], step: int
) -> View:
    """The training views of ``batch`` at ``step``, drawn as the training step draws them."""
    torch.manual_seed(step_seed(config.seed, step, 0))
    generator = torch.Generator().manual_seed(step_seed(config.seed, step, 0, 1))
    x_q, x_k, key_sensor = make_views(
        batch, config.mode, module.augmentation, config.input, config.same_window, generator
    )  # N x C x crop x crop each
    if "cpu" in CHANNELS_LAST_DEVICES:
        x_q = x_q.contiguous(memory_format=torch.channels_last)
        x_k = x_k.contiguous(memory_format=torch.channels_last)
    return x_q, x_k, key_sensor if config.queue_groups > 1 else None


@torch.no_grad()
def measure(module: PretrainModule, queries: list[View], refill: list[View]) -> dict[str, float]:
    """Mean loss and top-1 of ``queries`` against the stored queue and a refilled one."""
    moco = module.moco
    moco.momentum = 1.0  # the key encoder stays the checkpoint's
    moco.train()  # batch statistics, as in training
    stored = {k: v.clone() for k, v in moco.state_dict().items() if k.startswith("queue")}
    result: dict[str, float] = {}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for name in ("stale", "fresh"):
            moco.load_state_dict(stored, strict=False)
            for x_q, x_k, group in refill if name == "fresh" else []:
                moco(x_q, x_k, group)  # enqueues fresh keys
            queue = {k: v.clone() for k, v in moco.state_dict().items() if k.startswith("queue")}
            losses, top1 = [], []
            for x_q, x_k, group in queries:
                moco.load_state_dict(queue, strict=False)  # every batch meets the same queue
                out = moco(x_q, x_k, group)
                losses.append(float(out.loss))
                top1.append(float(positive_accuracy(out.logits)))
            result[f"{name}_loss"] = statistics.mean(losses)
            result[f"{name}_top1"] = statistics.mean(top1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the run folder (config.yaml)")
    parser.add_argument("--root", type=Path, required=True, help="the tree it trained on")
    parser.add_argument("checkpoints", nargs="+", type=Path)
    args = parser.parse_args()
    config = load_config(args.run / "config.yaml")
    data = PretrainDataModule(args.root, config)
    data.setup("fit")
    print("| step | lr | loss, stored queue | loss, refilled | top-1, stored | top-1, refilled |")
    print("|---|---|---|---|---|---|")
    for path in args.checkpoints:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        step = int(saved["global_step"])
        meta = saved["sensormoco"]
        module = PretrainModule(config, Normalization.from_dict(meta["normalization"], str(path)))
        state = {k: v for k, v in saved["state_dict"].items() if not k.startswith("augmentation.")}
        module.load_state_dict(state, strict=False)  # the augmentation holds constants only
        lr = saved["optimizer_states"][0]["param_groups"][0]["lr"]
        drawn = batches(data, step, QUERY_BATCHES + REFILL_BATCHES)
        views = [view(module, config, b, step + i) for i, b in enumerate(drawn)]
        r = measure(module, views[:QUERY_BATCHES], views[QUERY_BATCHES:])
        print(f"| {step} | {lr:.4f} | {r['stale_loss']:.3f} | {r['fresh_loss']:.3f} "
              f"| {r['stale_top1']:.3f} | {r['fresh_top1']:.3f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
