"""What a valid pre-training config is: the choices of each setting and the rules between
settings (training/config.py validates every :class:`PretrainConfig` with :func:`validate`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sensormoco.data.augment import PRESETS as AUGMENT_PRESETS
from sensormoco.models.adapters import ADAPTER_KINDS
from sensormoco.models.backbones import BACKBONES
from sensormoco.training.views import (
    CROSS_SENSOR_MODES,
    MODES,
    SENSOR_PAIR_MODES,
    check_preset,
    encoder_bands,
)

if TYPE_CHECKING:
    from sensormoco.training.config import PretrainConfig

AUTO = "auto"
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed", "16-mixed")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")
NEGATIVES: tuple[str, ...] = ("shared", "cross-sensor")
ENCODERS: tuple[str, ...] = ("shared", "per-sensor")  # one network, or an S1 and an S2 one


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of {list(choices)}")


def validate(c: PretrainConfig) -> None:
    """Raise ValueError naming the first setting (or combination) that is not allowed."""
    _choice("mode", c.mode, MODES)
    encoder_bands(c.mode, c.input)  # checks the input
    _choice("backbone", c.backbone, BACKBONES)
    _choice("adapter", c.adapter, ADAPTER_KINDS)
    _choice("augment", c.augment, (AUTO, *AUGMENT_PRESETS))
    check_preset(c.mode, c.augment)
    _choice("schedule", c.schedule, SCHEDULES)
    _choice("precision", c.precision, PRECISIONS)
    _choice("negatives", c.negatives, NEGATIVES)
    _choice("encoder", c.encoder, ENCODERS)
    if c.encoder == "per-sensor":
        if c.mode not in SENSOR_PAIR_MODES or c.negatives != "cross-sensor":
            raise ValueError(
                f"encoder per-sensor needs a sensor-pair mode "
                f"({', '.join(SENSOR_PAIR_MODES)}) with cross-sensor negatives (each "
                f"network's own queue), not {c.mode} with {c.negatives}"
            )
        if c.devices * c.num_nodes > 1:
            raise ValueError("encoder per-sensor runs on one process for now (devices 1)")
        rows = c.batch_size if c.symmetric else c.batch_size // 2  # each network's queries
        if (c.batch_size % 2 and not c.symmetric) or rows % c.bn_splits or rows < 2 * c.bn_splits:
            raise ValueError(
                f"encoder per-sensor: {'the' if c.symmetric else 'half the'} batch_size "
                f"{c.batch_size} (one sensor per network) must split into bn_splits "
                f"{c.bn_splits} sub-batches of at least 2"
            )
    if c.symmetric and c.mode not in SENSOR_PAIR_MODES:
        raise ValueError(
            f"symmetric needs a sensor-pair mode ({', '.join(SENSOR_PAIR_MODES)}), not {c.mode}"
        )
    if c.negatives == "cross-sensor" and c.mode not in CROSS_SENSOR_MODES:
        raise ValueError(
            f"negatives cross-sensor needs a sensor-pair mode or fusion-optional "
            f"({', '.join(CROSS_SENSOR_MODES)}), not {c.mode}"
        )
    positive = (
        "epochs",
        "batch_size",
        "crop_size",
        "queue_size",
        "dim",
        "bn_splits",
        "devices",
        "num_nodes",
        "log_every_n_steps",
        "checkpoint_every_n_steps",
    )
    for name in positive:
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(c, name)}")
    if c.max_steps is not None and c.max_steps < 1:
        raise ValueError(f"max_steps must be at least 1 (or null), got {c.max_steps}")
    if c.num_workers is not None and c.num_workers < 0:
        raise ValueError(
            f"num_workers must be at least 0 (or null: one per core), got {c.num_workers}"
        )
    if c.diagnostics_every_n_steps < 0:
        raise ValueError(
            f"diagnostics_every_n_steps must be at least 0 (0: none), got "
            f"{c.diagnostics_every_n_steps}"
        )
    if c.lr <= 0 or c.temperature <= 0 or c.weight_decay < 0:
        raise ValueError("lr and temperature must be positive and weight_decay non-negative")
    if not (0 <= c.sgd_momentum < 1 and 0 <= c.key_momentum <= 1):
        raise ValueError("sgd_momentum must lie in [0, 1) and key_momentum in [0, 1]")
    if c.batch_size % c.bn_splits or c.batch_size // c.bn_splits < 2:
        raise ValueError(
            f"batch_size {c.batch_size} must split into bn_splits {c.bn_splits} "
            "sub-batches of at least 2 samples each"
        )
    if c.devices * c.num_nodes == 1 and not (c.shuffle_bn and c.bn_splits >= 2):
        raise ValueError(
            f"one process with shuffle_bn {str(c.shuffle_bn).lower()} and bn_splits "
            f"{c.bn_splits} lets a query and its key share batch-norm statistics (MoCo §3.3); "
            "use shuffle_bn true with bn_splits >= 2 (keys normalised over other sub-batches)"
        )
    if c.queue_size % (c.global_batch * c.queue_groups):
        g = c.global_batch * c.queue_groups
        segments = f" x {c.queue_groups} queue segments (cross-sensor)" * (c.queue_groups > 1)
        raise ValueError(
            f"queue_size {c.queue_size} is not a multiple of the global batch {c.global_batch} "
            f"(batch_size {c.batch_size} x devices {c.devices} x num_nodes {c.num_nodes})"
            f"{segments}; "
            f"try queue_size {max(g, round(c.queue_size / g) * g)}"
        )
