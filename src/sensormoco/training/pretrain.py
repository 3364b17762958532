"""MoCo-v2 pre-training with Lightning: one function that runs it end to end (the module is
training/pretrain_module.py).

Views are built on the batch on its device (augmentation included). Every random draw of step
s on rank r (augmentation, sensor swaps, shuffle-BN) comes from a seed derived from
(seed, s, r), and batches from (seed, step) (:class:`~sensormoco.training.datamodule.StepSampler`):
together with the checkpointed weights, optimiser, schedule and queue, a resumed run repeats an
uninterrupted one exactly (in deterministic mode).
"""

from __future__ import annotations

import json
import platform
import statistics
import time
import warnings
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import lightning as L
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger

from sensormoco.atomic import atomic_write_text
from sensormoco.errors import DataError
from sensormoco.runlog import log_to
from sensormoco.training.checkpoint import (
    export_encoder,
)
from sensormoco.training.config import PretrainConfig
from sensormoco.training.datamodule import PretrainDataModule
from sensormoco.training.pretrain_module import PretrainModule as PretrainModule  # re-exported
from sensormoco.training.pretrain_module import lr_factor as lr_factor  # re-exported
from sensormoco.training.progress_bar import ConsoleProgress
from sensormoco.training.training_checkpoint import (
    AtomicCheckpointIO,
    LastCheckpoint,
    checkpoint_step,
)

CHECKPOINT = Path("checkpoints") / "last.ckpt"
LOG = Path("logs") / "console.log"  # framework messages kept off the console
ENCODER = "encoder.pt"
VERSIONED = ("sensormoco", "torch", "lightning", "timm", "kornia", "numpy", "rasterio")


def package_versions() -> dict[str, str | None]:
    """Versions of the packages a result depends on, and of Python."""
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found | {"python": platform.python_version()}


def _loggers(out: Path) -> list[Logger]:
    loggers: list[Logger] = [CSVLogger(out / "logs", name="csv")]
    if find_spec("tensorboard") is not None or find_spec("tensorboardX") is not None:
        loggers.append(TensorBoardLogger(out / "logs", name="tensorboard"))
    return loggers


def make_trainer(
    config: PretrainConfig, out: Path, callbacks: Sequence[Callback] = ()
) -> L.Trainer:
    """The Lightning Trainer of a run writing into ``out``."""
    c = config
    try:
        return L.Trainer(
            accelerator=c.accelerator,
            devices=c.devices,
            num_nodes=c.num_nodes,
            strategy=c.strategy,
            precision=c.precision,  # type: ignore[arg-type]
            max_epochs=c.epochs,
            max_steps=c.max_steps or -1,
            deterministic=c.deterministic,
            logger=_loggers(out),
            log_every_n_steps=c.log_every_n_steps,
            callbacks=[
                LastCheckpoint(out / CHECKPOINT, c.checkpoint_every_n_steps),
                ConsoleProgress(),
                *callbacks,
            ],
            enable_checkpointing=False,
            plugins=[AtomicCheckpointIO()],
            enable_progress_bar=False,
            enable_model_summary=False,
            use_distributed_sampler=False,
            num_sanity_val_steps=0,
            default_root_dir=out,
        )
    except MisconfigurationException as exc:
        raise ValueError(" ".join(str(exc).split())) from exc


def run_pretrain(
    config: PretrainConfig,
    data: str | Path,
    out_dir: str | Path,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Pre-train on the SEN12MS tree ``data`` into ``out_dir`` (config.yaml, logs/,
    checkpoints/last.ckpt, encoder.pt, summary.json); with ``resume`` continue from the run's
    last checkpoint. Returns the summary."""
    started = time.perf_counter()
    out = Path(out_dir)
    checkpoint = out / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise DataError(checkpoint, "nothing to resume: no checkpoint", "missing")
    if not resume and checkpoint.exists():
        raise DataError(
            out,
            "already holds a run (checkpoints/last.ckpt); pass --resume to "
            "continue it, or choose another --out",
        )
    L.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = PretrainDataModule(data, config, checkpoint_step(checkpoint) if resume else 0)
    datamodule.setup("fit")  # data problems surface before anything is written
    assert datamodule.data is not None
    config.save(out / "config.yaml")
    module = PretrainModule(config, datamodule.data.normalization)  # what the data carries
    with log_to(out / LOG):  # Lightning's info lines, tips and warnings: not on the console
        return _fit(config, out, module, datamodule, callbacks, resume, started)


def _fit(
    config: PretrainConfig,
    out: Path,
    module: PretrainModule,
    datamodule: PretrainDataModule,
    callbacks: Sequence[Callback],
    resume: bool,
    started: float,
) -> dict[str, Any]:
    checkpoint = out / CHECKPOINT
    trainer = make_trainer(config, out, callbacks)
    for logger in trainer.loggers:
        logger.log_hyperparams(config.to_dict())
    with warnings.catch_warnings():
        # batches follow (seed, step), so resuming mid-epoch is exact (see StepSampler)
        warnings.filterwarnings("ignore", message=".*ended before the epoch ended.*")
        trainer.fit(
            module,
            datamodule=datamodule,
            ckpt_path=checkpoint if resume else None,
            weights_only=True,
        )
    assert datamodule.data is not None
    steps_per_epoch = len(datamodule.data.ids) // config.global_batch
    pairs = module.run_steps * config.global_batch
    summary: dict[str, Any] = {
        "mode": config.mode,
        "final_loss": None if module.last_loss is None else float(module.last_loss),
        "final_pos_acc": None if module.last_pos_acc is None else float(module.last_pos_acc),
        # means over this run's last steps (up to defaults.PRETRAIN_SUMMARY_STEPS)
        "recent_steps": len(module.recent),
        "recent_loss": statistics.fmean(v[0] for v in module.recent) if module.recent else None,
        "recent_pos_acc": statistics.fmean(v[1] for v in module.recent) if module.recent else None,
        "steps": trainer.global_step,
        "epochs": round(trainer.global_step / steps_per_epoch, 4),
        "steps_this_run": module.run_steps,
        "pairs_per_s": pairs / module.run_seconds if module.run_seconds > 0 else None,
        "seconds": round(module.run_seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
        "seed": config.seed,
        "global_batch": config.global_batch,
        "patches": len(datamodule.data.ids),
        "excluded_test_patches": datamodule.data.excluded_test,
        "world_size": trainer.world_size,
        "resumed": resume,
        "diagnostics": module.last_diagnostics,  # the last diag/ values (see diagnostics.py)
        "encoder": ENCODER,
        "checkpoint": str(CHECKPOINT),
        "versions": package_versions(),
    }
    if trainer.is_global_zero:
        export_encoder(module.moco, out / ENCODER, module.metadata())
        atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
