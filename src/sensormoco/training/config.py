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
the queue must be a multiple of it. ``symmetric`` (sensor-pair modes) computes both directions
of every location each step: a batch of N locations is 2N query-key pairs (N with an S2 query,
N with an S1 one) on the same kind-balanced batch-norm sub-batches as one direction (see
:class:`~sensormoco.models.moco.MoCo`); N still counts locations (``pairs_per_s`` too).
The presets are YAML files of the package (``sensormoco/resources/presets/<name>.yaml``),
loaded by name; :data:`PRESETS` maps each name to its file.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from sensormoco import defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.errors import DataError
from sensormoco.training.config_rules import AUTO, validate
from sensormoco.training.config_rules import ENCODERS as ENCODERS  # re-exported
from sensormoco.training.config_rules import NEGATIVES as NEGATIVES  # re-exported
from sensormoco.training.config_rules import PRECISIONS as PRECISIONS  # re-exported
from sensormoco.training.config_rules import SCHEDULES as SCHEDULES  # re-exported
from sensormoco.training.views import (
    MODES,
    SENSOR_PAIR_MODES,
    encoder_bands,
    key_kinds,
)

# Settings a resumed run may change: run length and hardware, not the experiment.
RESUMABLE_CHANGES = frozenset(
    {
        "epochs",
        "max_steps",
        "num_workers",
        "precision",
        "devices",
        "num_nodes",
        "accelerator",
        "strategy",
        "deterministic",
        "log_every_n_steps",
        "checkpoint_every_n_steps",
        "diagnostics_every_n_steps",
    }
)


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
    symmetric: bool = False  # sensor pairs: both directions of every location each step
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
        validate(self)

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

# Named presets: the package's YAML files, by name (``paper``, ``cpu-small``, ...).
_PRESET_DIR = Path(str(files("sensormoco.resources"))) / "presets"
PRESETS: dict[str, Path] = {  # the paper's first, then the rest by name
    path.stem: path
    for path in sorted(_PRESET_DIR.glob("*.yaml"), key=lambda p: (p.stem != "paper", p.stem))
}
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


def _check_keys(source: str, keys: typing.Iterable[str]) -> None:
    for key in keys:
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"valid keys: {', '.join(FIELDS)}"
            raise DataError(source, f"unknown key {key!r}; {hint}")


def read_config_file(source: str | Path) -> dict[str, Any]:
    """The settings of a preset name or a YAML file: keys checked, values type-checked."""
    if isinstance(source, str) and source in PRESETS and not Path(source).is_file():
        source = PRESETS[source]
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
        raise ValueError(
            f"no pre-training mode: give --mode or `mode:` in the config; modes: {', '.join(MODES)}"
        )
    try:
        return PretrainConfig(**values)
    except ValueError as exc:
        if source is None or str(source) in PRESETS:
            raise
        raise ValueError(f"{source}: {exc}") from exc


# What a checkpoint written before a setting existed ran with.
ADDED_SETTINGS: dict[str, Any] = {"negatives": "shared", "encoder": "shared", "symmetric": False}


def incompatible_changes(saved: Mapping[str, Any], current: PretrainConfig) -> list[str]:
    """Settings that differ between a checkpoint's config and ``current`` and that a resumed
    run may not change (see :data:`RESUMABLE_CHANGES`), as ``key: saved -> current``. Settings
    added since the checkpoint was written count as their old behaviour (ADDED_SETTINGS)."""
    saved = ADDED_SETTINGS | dict(saved)
    now = current.to_dict()
    keys = sorted((set(saved) | set(now)) - RESUMABLE_CHANGES)
    return [f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in keys if saved.get(k) != now.get(k)]
