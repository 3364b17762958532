"""Training checkpoints (``checkpoints/last.ckpt``): Lightning's, written atomically
(:class:`AtomicCheckpointIO`) every N steps and after the final step (:class:`LastCheckpoint`),
and the step one was written at (:func:`checkpoint_step`). The exported encoder file is
:mod:`sensormoco.training.checkpoint`'s."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from sensormoco.atomic import atomic_path
from sensormoco.errors import DataError


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed into place."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class LastCheckpoint(Callback):
    """Writes the training checkpoint ``path`` every ``every_n_steps`` steps and after the
    final step of the run (from inside the step loop, where Lightning resumes exactly)."""

    def __init__(self, path: str | Path, every_n_steps: int) -> None:
        self.path = Path(path)
        self.every_n_steps = every_n_steps

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        step = trainer.global_step
        if step % self.every_n_steps == 0 or step >= trainer.estimated_stepping_batches:
            trainer.save_checkpoint(self.path, weights_only=False)


def checkpoint_step(path: str | Path) -> int:
    """The global step a training checkpoint was written at (its tensors are not read)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(checkpoint["global_step"])
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        TypeError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(path, f"not a complete training checkpoint ({first})") from exc
