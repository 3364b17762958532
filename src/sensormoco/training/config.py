"""Pre-training settings: one frozen, validated record, from a YAML file or a named preset.

Every setting has its default in :mod:`sensormoco.defaults`; ``mode`` has none (it is the
experiment's variable). ``augment: auto`` resolves to ``none`` for ``sensor-pairs`` and to the
default preset otherwise, so a preset serves every mode; ``negatives: auto`` resolves to
``cross-sensor`` for the sensor-pair modes (each key's negatives are keys of its own sensor, see
:class:`~sensormoco.models.moco.MoCo`) and to ``shared`` (one queue, as MoCo) otherwise;
``fusion-optional`` takes ``cross-sensor`` when asked (three segments: S1, S2 and S1S2 keys, so
its queue must be a multiple of three global batches, which the presets' are not).
On one process batch norm must not be shared by a query and its key: ``shuffle_bn`` with
``bn_splits`` >= 2 is required there (see :class:`~sensormoco.models.moco.MoCo`).
``batch_size`` is per process: the global batch is ``batch_size x devices x num_nodes``, and
the queue must be a multiple of it.
The presets live here (so they load by name from an installed package) and, identical, as
``configs/pretrain/*.yaml``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sensormoco import defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.data.augment import PRESETS as AUGMENT_PRESETS
from sensormoco.errors import DataError
from sensormoco.models.adapters import ADAPTER_KINDS
from sensormoco.models.backbones import BACKBONES
from sensormoco.training.views import (
    CROSS_SENSOR_MODES,
    MODES,
    SENSOR_PAIR_MODES,
    check_preset,
    encoder_bands,
    key_kinds,
)

AUTO = "auto"
PRECISIONS: tuple[str, ...] = ("32", "bf16-mixed", "16-mixed")
SCHEDULES: tuple[str, ...] = ("cosine", "constant")
NEGATIVES: tuple[str, ...] = ("shared", "cross-sensor")
ENCODERS: tuple[str, ...] = ("shared", "per-sensor")  # one network, or an S1 and an S2 one
# Settings a resumed run may change: run length and hardware, not the experiment.
RESUMABLE_CHANGES = frozenset({
    "epochs", "max_steps", "num_workers", "precision", "devices", "num_nodes", "accelerator",
    "strategy", "deterministic", "log_every_n_steps", "checkpoint_every_n_steps",
    "diagnostics_every_n_steps",
})  # fmt: skip


@dataclass(frozen=True)
class PretrainConfig:
    """Everything a pre-training run depends on (validated on construction)."""

    mode: str
    input: str = defaults.PRETRAIN_INPUT
    backbone: str = defaults.BACKBONE
    adapter: str = defaults.ADAPTER
    adapter_trainable: bool = True
    augment: str = AUTO
    same_window: bool = True
    epochs: int = defaults.PRETRAIN_EPOCHS
    max_steps: int | None = None  # stop after this many steps (the schedule spans them)
    batch_size: int = defaults.PRETRAIN_BATCH_SIZE  # per process
    crop_size: int = defaults.PRETRAIN_CROP_SIZE
    queue_size: int = defaults.MOCO_QUEUE_SIZE
    negatives: str = AUTO  # shared | cross-sensor (auto: cross-sensor for sensor pairs)
    encoder: str = "shared"  # shared | per-sensor (sensor-pair modes, one process)
    dim: int = defaults.MOCO_DIM
    lr: float = defaults.PRETRAIN_LR
    schedule: str = defaults.PRETRAIN_SCHEDULE
    sgd_momentum: float = defaults.PRETRAIN_SGD_MOMENTUM
    weight_decay: float = defaults.PRETRAIN_WEIGHT_DECAY
    key_momentum: float = defaults.MOCO_KEY_MOMENTUM
    temperature: float = defaults.MOCO_TEMPERATURE
    shuffle_bn: bool = True
    bn_splits: int = defaults.MOCO_BN_SPLITS
    seed: int = defaults.SEED
    num_workers: int | None = defaults.PRETRAIN_WORKERS  # None: the machine's cores (datamodule)
    precision: str = defaults.PRETRAIN_PRECISION
    devices: int = 1
    num_nodes: int = 1
    accelerator: str = AUTO
    strategy: str = AUTO
    subset: str | None = None  # ids.txt restricting the patches (test scenes never enter)
    deterministic: bool = False
    log_every_n_steps: int = defaults.PRETRAIN_LOG_EVERY
    checkpoint_every_n_steps: int = defaults.PRETRAIN_CHECKPOINT_EVERY
    diagnostics_every_n_steps: int = defaults.PRETRAIN_DIAGNOSTICS_EVERY  # 0: none

    def __post_init__(self) -> None:
        for name, value in check_types(dataclasses.asdict(self)).items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "adapter", self.adapter.replace("_", "-"))
        if self.augment == AUTO:
            auto = "none" if self.mode == "sensor-pairs" else defaults.PRETRAIN_AUGMENT
            object.__setattr__(self, "augment", auto)
        if self.negatives == AUTO:
            auto = "cross-sensor" if self.mode in SENSOR_PAIR_MODES else "shared"
            object.__setattr__(self, "negatives", auto)
        _validate(self)

    @property
    def global_batch(self) -> int:
        """Pairs per optimisation step over all processes."""
        return self.batch_size * self.devices * self.num_nodes

    @property
    def queue_groups(self) -> int:
        """Segments of the negative queue: with cross-sensor negatives one per kind of key (S1
        and S2 for sensor pairs; S1, S2 and S1S2 for fusion-optional)."""
        return key_kinds(self.mode) if self.negatives == "cross-sensor" else 1

    @property
    def bands(self) -> tuple[str, ...]:
        """The bands the encoder takes."""
        return encoder_bands(self.mode, self.input)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML, atomically."""
        atomic_write_text(path, self.to_yaml())


FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PretrainConfig))
_HINTS: dict[str, Any] = typing.get_type_hints(PretrainConfig)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (bool, int, float, str, or one of them | None)."""
    if isinstance(hint, types.UnionType):
        if value is None:
            return None
        (hint,) = (h for h in typing.get_args(hint) if h is not type(None))
    if name == "precision" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # YAML `precision: 32`
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads `1e-4` (no dot) as a string
            return float(value)
        except ValueError:
            pass
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }[hint]
    if not ok:
        raise ValueError(f"{name} must be {hint.__name__}, got {value!r}")
    return float(value) if hint is float else value


def check_types(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values type-checked (and floats given as ints or YAML strings converted)."""
    return {name: _coerce(name, value, _HINTS[name]) for name, value in values.items()}


def _choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of {list(choices)}")


def _validate(c: PretrainConfig) -> None:
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
            raise ValueError(f"encoder per-sensor needs a sensor-pair mode "
                             f"({', '.join(SENSOR_PAIR_MODES)}) with cross-sensor negatives (each "
                             f"network's own queue), not {c.mode} with {c.negatives}")  # fmt: skip
        if c.devices * c.num_nodes > 1:
            raise ValueError("encoder per-sensor runs on one process for now (devices 1)")
        if c.batch_size % (2 * c.bn_splits) or c.batch_size // (2 * c.bn_splits) < 2:
            raise ValueError(f"encoder per-sensor: half the batch_size {c.batch_size} (one sensor "
                             f"per network) must split into bn_splits {c.bn_splits} sub-batches "
                             "of at least 2")  # fmt: skip
    if c.negatives == "cross-sensor" and c.mode not in CROSS_SENSOR_MODES:
        raise ValueError(f"negatives cross-sensor needs a sensor-pair mode or fusion-optional "
                         f"({', '.join(CROSS_SENSOR_MODES)}), not {c.mode}")  # fmt: skip
    positive = ("epochs", "batch_size", "crop_size", "queue_size", "dim", "bn_splits", "devices",
                "num_nodes", "log_every_n_steps", "checkpoint_every_n_steps")  # fmt: skip
    for name in positive:
        if getattr(c, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(c, name)}")
    if c.max_steps is not None and c.max_steps < 1:
        raise ValueError(f"max_steps must be at least 1 (or null), got {c.max_steps}")
    if c.num_workers is not None and c.num_workers < 0:
        raise ValueError(f"num_workers must be at least 0 (or null: one per core), got "
                         f"{c.num_workers}")  # fmt: skip
    if c.diagnostics_every_n_steps < 0:
        raise ValueError(f"diagnostics_every_n_steps must be at least 0 (0: none), got "
                         f"{c.diagnostics_every_n_steps}")  # fmt: skip
    if c.lr <= 0 or c.temperature <= 0 or c.weight_decay < 0:
        raise ValueError("lr and temperature must be positive and weight_decay non-negative")
    if not (0 <= c.sgd_momentum < 1 and 0 <= c.key_momentum <= 1):
        raise ValueError("sgd_momentum must lie in [0, 1) and key_momentum in [0, 1]")
    if c.batch_size % c.bn_splits or c.batch_size // c.bn_splits < 2:
        raise ValueError(f"batch_size {c.batch_size} must split into bn_splits {c.bn_splits} "
                         "sub-batches of at least 2 samples each")  # fmt: skip
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


# Named presets; configs/pretrain/<name>.yaml hold the same values (a test keeps them equal).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {  # DESIGN §3: the paper's settings
        "backbone": "resnet50", "adapter": "conv1", "augment": AUTO, "epochs": 200,
        "batch_size": 64, "crop_size": 224, "queue_size": 65536, "dim": 128, "lr": 0.03,
        "schedule": "cosine", "sgd_momentum": 0.9, "weight_decay": 0.0001,
        "key_momentum": 0.999, "temperature": 0.2, "shuffle_bn": True, "bn_splits": 8,
    },
    "cpu-small": {  # a few hundred steps on a laptop CPU (synthetic data)
        "backbone": "resnet18", "adapter": "conv1", "augment": AUTO, "epochs": 100,
        "max_steps": 300, "batch_size": 32, "crop_size": 64, "queue_size": 256, "dim": 128,
        "lr": 0.02, "schedule": "constant", "sgd_momentum": 0.9, "weight_decay": 0.0001,
        "key_momentum": 0.99, "temperature": 0.2, "shuffle_bn": True, "bn_splits": 2,
        "num_workers": 0, "log_every_n_steps": 10, "checkpoint_every_n_steps": 100,
    },
}  # fmt: skip


def _check_keys(source: str, keys: typing.Iterable[str]) -> None:
    for key in keys:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(FIELDS)}"
            raise DataError(source, f"unknown key {key!r}; {hint}")


def read_config_file(source: str | Path) -> dict[str, Any]:
    """The settings of a preset name or a YAML file: keys checked, values type-checked."""
    if isinstance(source, str) and source in PRESETS and not Path(source).is_file():
        return dict(PRESETS[source])
    path = Path(source)
    if not path.is_file():
        raise DataError(path, f"no such config file or preset; presets: {', '.join(PRESETS)}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(path, f"cannot read YAML ({' '.join(str(exc).split())})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise DataError(path, "a pre-training config must be a YAML mapping of key: value")
    _check_keys(str(path), data)
    try:
        return check_types(data)
    except ValueError as exc:
        raise DataError(path, str(exc)) from exc


def load_config(
    source: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> PretrainConfig:
    """A config from a preset name or YAML file (or the defaults when ``None``), with
    ``overrides`` (e.g. command-line flags) applied on top."""
    values = read_config_file(source) if source is not None else {}
    overrides = dict(overrides or {})
    _check_keys("overrides", overrides)
    values.update(overrides)
    if "mode" not in values:
        raise ValueError(f"no pre-training mode: give --mode or `mode:` in the config; "
                         f"modes: {', '.join(MODES)}")  # fmt: skip
    try:
        return PretrainConfig(**values)
    except ValueError as exc:
        if source is None or str(source) in PRESETS:
            raise
        raise ValueError(f"{source}: {exc}") from exc


# What a checkpoint written before a setting existed ran with.
ADDED_SETTINGS: dict[str, Any] = {"negatives": "shared", "encoder": "shared"}


def incompatible_changes(saved: Mapping[str, Any], current: PretrainConfig) -> list[str]:
    """Settings that differ between a checkpoint's config and ``current`` and that a resumed
    run may not change (see :data:`RESUMABLE_CHANGES`), as ``key: saved -> current``. Settings
    added since the checkpoint was written count as their old behaviour (ADDED_SETTINGS)."""
    saved = ADDED_SETTINGS | dict(saved)
    now = current.to_dict()
    keys = sorted((set(saved) | set(now)) - RESUMABLE_CHANGES)
    return [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]
