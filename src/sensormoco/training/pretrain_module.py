"""The Lightning module of pre-training: MoCo v2 (or per-sensor MoCo) on the views of the
config's mode, its optimiser and schedule, step logging and diagnostics; run by
training/pretrain.py (which says how a resumed run repeats an uninterrupted one).

SyncBN is not used: batch-norm statistics do not leak between a query and its key because keys
are computed on a batch shuffled across ranks (shuffle-BN) and, within a process, on
``bn_splits`` kind-balanced sub-batches whose members differ from their queries' (see
:class:`~sensormoco.models.moco.MoCo`).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR

from sensormoco import __version__, defaults
from sensormoco.data.augment import Augmentation
from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization
from sensormoco.models import MoCo, MoCoOutput, build_encoder
from sensormoco.models.losses import positive_accuracy
from sensormoco.models.per_sensor import SENSOR_BANDS, PerSensorMoCo
from sensormoco.training.config import PretrainConfig, incompatible_changes
from sensormoco.training.datamodule import step_seed
from sensormoco.training.diagnostics import Probe, make_probe, modality_gaps
from sensormoco.training.views import make_views

# Devices whose encoders run channels_last (weights and views). On CPU it was measured faster in
# fp32 and in bf16 (ResNet-18, 128 px, batch 16, x86 AVX-512: ~1.1x a step; see
# benchmarks/pretrain_step.py, which measures both formats).
CHANNELS_LAST_DEVICES: tuple[str, ...] = ("cuda", "cpu")


def lr_factor(schedule: str, total_steps: int) -> Callable[[int], float]:
    """The learning-rate multiplier of step s: cosine from 1 to 0 over ``total_steps``, or 1."""

    def factor(step: int) -> float:
        if schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))

    return factor


class PretrainModule(L.LightningModule):
    """MoCo v2 on the views of ``config.mode``; logs ``loss``, ``lr``, ``pos_acc`` (positive
    pair top-1 among 1 + K / queue segments) and ``pairs_per_s`` (global pairs per second of
    wall time), and every ``diagnostics_every_n_steps`` the ``diag/`` metrics of
    :mod:`sensormoco.training.diagnostics`."""

    def __init__(
        self, config: PretrainConfig, normalization: Normalization = SEN12MS_NORMALIZATION
    ) -> None:
        super().__init__()
        self.config = config
        self.bands = config.bands
        self.normalization = normalization.select(self.bands)
        self.moco: MoCo | PerSensorMoCo
        if config.encoder == "per-sensor":  # an S1 and an S2 network (models/per_sensor.py)
            encoders = {
                s: build_encoder(
                    SENSOR_BANDS[s],
                    config.backbone,
                    config.adapter,
                    config.dim,
                    config.adapter_trainable,
                )
                for s in SENSOR_BANDS
            }
            self.moco = PerSensorMoCo(
                encoders,
                config.queue_size,
                config.key_momentum,
                config.temperature,
                config.shuffle_bn,
                config.bn_splits,
            )
        else:
            encoder = build_encoder(
                self.bands, config.backbone, config.adapter, config.dim, config.adapter_trainable
            )
            self.moco = MoCo(
                encoder,
                config.queue_size,
                config.key_momentum,
                config.temperature,
                config.shuffle_bn,
                config.bn_splits,
                config.queue_groups,
            )
        self.augmentation = Augmentation(config.augment, config.crop_size)
        self.last_loss: Tensor | None = None
        self.last_pos_acc: Tensor | None = None
        # (loss, pos_acc) of this run's last steps: one batch's values are noisy
        self.recent: deque[tuple[float, float]] = deque(maxlen=defaults.PRETRAIN_SUMMARY_STEPS)
        self._last_batch_end: float | None = None
        self._run_start = (0.0, 0)  # (time, global step) when this run's training started
        self.run_seconds = 0.0
        self.run_steps = 0
        self.probe: Probe | None = None  # fixed locations for the modality-gap diagnostics
        self.last_diagnostics: dict[str, float] = {}

    def metadata(self) -> dict[str, Any]:
        """What a checkpoint or an exported encoder carries besides weights."""
        c = self.config
        return {
            "config": c.to_dict(),
            "bands": list(self.bands),
            "mode": c.mode,
            "input": c.input,
            "normalization": self.normalization.to_dict(),
            "version": __version__,
        }

    def setup(self, stage: str) -> None:
        # before the strategy moves and wraps the model (DDP buckets follow the layout)
        if self.trainer.strategy.root_device.type in CHANNELS_LAST_DEVICES:
            self.moco.to(memory_format=torch.channels_last)

    def on_train_start(self) -> None:
        self._run_start = (time.perf_counter(), self.global_step)
        data = getattr(getattr(self.trainer, "datamodule", None), "data", None)
        if self.config.diagnostics_every_n_steps and data is not None:
            self.probe = make_probe(
                data.dataset,
                len(data.ids),
                self.bands,
                self.config.crop_size,
                self.device,
                norms=data.norms,
            )
            if self.probe is not None and self.device.type in CHANNELS_LAST_DEVICES:
                self.probe = Probe(  # the layout of the training batches (and the network)
                    self.probe.s1.contiguous(memory_format=torch.channels_last),
                    self.probe.s2.contiguous(memory_format=torch.channels_last),
                )

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        c = self.config
        # kornia and shuffle-BN draw from the global generator: seed it from (seed, step, rank)
        torch.manual_seed(step_seed(c.seed, self.global_step, self.global_rank))
        generator = torch.Generator().manual_seed(
            step_seed(c.seed, self.global_step, self.global_rank, 1)
        )
        x_q, x_k, key_sensor = make_views(
            batch, c.mode, self.augmentation, c.input, c.same_window, generator, c.symmetric
        )
        # x_q, x_k: N (2N symmetric) x C x crop x crop; key_sensor: N (2N) or None
        if x_q.device.type in CHANNELS_LAST_DEVICES:
            x_q = x_q.contiguous(memory_format=torch.channels_last)
            x_k = x_k.contiguous(memory_format=torch.channels_last)
        groups = key_sensor if c.queue_groups > 1 else None
        every = c.diagnostics_every_n_steps
        diagnose = every > 0 and self.global_step % every == 0
        out: MoCoOutput = self.moco(x_q, x_k, groups, diagnose)
        if diagnose:
            self._diagnose(out)
        self.last_loss = out.loss.detach()
        self.last_pos_acc = positive_accuracy(out.logits.detach())
        self.log("loss", out.loss, prog_bar=True)
        self.log("pos_acc", self.last_pos_acc, prog_bar=True)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"])
        return out.loss

    def _diagnose(self, out: MoCoOutput) -> None:
        """Measure and log the diagnostics straight to the loggers (at this step, whatever
        ``log_every_n_steps``)."""
        metrics = {} if self.probe is None else modality_gaps(self.moco, self.probe)
        if out.own_kind_top1 is not None:
            metrics["own_sensor_top1"] = float(out.own_kind_top1)
        self.last_diagnostics = metrics
        for logger in self.loggers:
            logger.log_metrics({f"diag/{k}": v for k, v in metrics.items()}, step=self.global_step)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.last_loss is not None and self.last_pos_acc is not None:
            self.recent.append((float(self.last_loss), float(self.last_pos_acc)))
        now = time.perf_counter()
        if self._last_batch_end is not None:
            self.log("pairs_per_s", self.config.global_batch / (now - self._last_batch_end))
        self._last_batch_end = now

    def on_train_end(self) -> None:
        self.run_seconds = time.perf_counter() - self._run_start[0]
        self.run_steps = self.global_step - self._run_start[1]

    def configure_optimizers(self) -> Any:
        c = self.config
        params = [p for p in self.moco.parameters() if p.requires_grad]  # the query encoder(s)
        optimizer = torch.optim.SGD(
            params, lr=c.lr, momentum=c.sgd_momentum, weight_decay=c.weight_decay
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = LambdaLR(optimizer, lr_factor(c.schedule, total))
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["sensormoco"] = self.metadata()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("sensormoco")
        if not isinstance(saved, dict) or not isinstance(saved.get("config"), dict):
            raise ValueError("cannot resume: the checkpoint is not a sensormoco pre-training one")
        changed = incompatible_changes(saved["config"], self.config)
        if changed:
            raise ValueError(
                f"cannot resume with other settings than the checkpoint's "
                f"({'; '.join(changed)}); use them, or start a new --out"
            )
        # the augmentation holds only constants of its preset (checked above with the config);
        # take this version's, so a change of its module layout does not break resuming
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith("augmentation.")]:
            del state[key]
        state.update({f"augmentation.{k}": v for k, v in self.augmentation.state_dict().items()})
