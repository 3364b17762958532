"""Pre-training progress on the console: steps done of all, steps/s, pairs/s, ETA, loss; one
summary line at the end (rank zero only). Replaces Lightning's bar, whose redraw frames become
one huge line in a log file and which stops short of 100 % when a run ends on ``max_steps``."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from sensormoco.progress import Progress


class ConsoleProgress(Callback):
    """A :class:`~sensormoco.progress.Progress` over the run's optimisation steps."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            total = int(trainer.estimated_stepping_batches)
            # a resumed run starts where it stopped
            self.progress = Progress("pre-training", total, "steps", initial=trainer.global_step)

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self.progress is not None:
            self.progress.update()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.progress is not None:
            loss = trainer.callback_metrics.get("loss")
            self.progress.close(summary=None if loss is None else f"last loss {float(loss):.4f}")

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if self.progress is not None:
            self.progress.close(ok=False)
