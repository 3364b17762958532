"""An experiment: a declared matrix of pre-training and evaluation runs (one YAML file).

```yaml
data: path/to/SEN12MS          # or given on the command line / by the demo
pretrain:
  config: cpu-small            # preset or YAML file: the base of every pre-training run
  modes: [sensor-pairs, fusion-all]
  augments: [auto]
  subsets: {full: null, nonoverlapping: ids.txt}
  batch_sizes: [32]
  steps: [300]                 # max_steps of each run
evaluate:
  protocols: [linear]
  inputs: [s1, s2, s1s2]
  budgets: [1024]              # or "full"
  seeds: [0, 1, 2]
  baselines: [supervised, random]  # fine-tuned from random init; linear probe on random init
  ...                          # backbone, epochs, finetune_epochs, val_fraction, scheme, label_type
```

Every cell has a stable name, so its directory tells whether it is done (its final file exists:
``summary.json`` of a pre-training run, ``metrics.json`` of an evaluation).
"""

from __future__ import annotations

import difflib
import itertools
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from sensormoco import defaults
from sensormoco.errors import DataError

BASELINES = ("supervised", "random")


@dataclass(frozen=True)
class PretrainCell:
    mode: str
    augment: str
    subset: str  # name of the subset ("full": every non-test patch)
    batch_size: int
    steps: int

    @property
    def name(self) -> str:
        return f"{self.mode}_{self.augment}_{self.subset}_b{self.batch_size}_s{self.steps}"


@dataclass(frozen=True)
class EvalCell:
    source: str  # a PretrainCell name, or a baseline name
    protocol: str
    input: str
    budget: int | None  # None: the full split

    @property
    def budget_name(self) -> str:
        return "full" if self.budget is None else str(self.budget)

    @property
    def name(self) -> str:
        return f"{self.source}__{self.protocol}_{self.input}_{self.budget_name}"


@dataclass(frozen=True)
class Experiment:
    """The parsed matrix; paths are resolved against the config file's folder."""

    data: str | None
    pretrain_config: str = "cpu-small"
    modes: tuple[str, ...] = ("sensor-pairs",)
    augments: tuple[str, ...] = ("auto",)
    subsets: dict[str, str | None] = field(default_factory=lambda: {"full": None})
    batch_sizes: tuple[int, ...] = (32,)
    steps: tuple[int, ...] = (300,)
    pretrain_overrides: dict[str, Any] = field(default_factory=dict)
    protocols: tuple[str, ...] = ("linear",)
    inputs: tuple[str, ...] = ("s1s2",)
    budgets: tuple[int | None, ...] = (defaults.LABEL_BUDGET,)
    seeds: tuple[int, ...] = defaults.EVAL_SEEDS
    baselines: tuple[str, ...] = BASELINES
    backbone: str = "resnet18"  # of the baselines (match the pre-training backbone)
    epochs: int = defaults.EVAL_EPOCHS
    finetune_epochs: int = defaults.EVAL_EPOCHS
    val_fraction: float = defaults.VAL_FRACTION
    scheme: str = defaults.LABEL_SCHEME
    label_type: str = "single"
    labels_csv: str | None = None

    def pretrain_cells(self) -> list[PretrainCell]:
        grid = itertools.product(
            self.modes, self.augments, self.subsets, self.batch_sizes, self.steps
        )
        return [PretrainCell(*values) for values in grid]

    def eval_cells(self) -> list[EvalCell]:
        settings = list(itertools.product(self.protocols, self.inputs, self.budgets))
        cells = [EvalCell(p.name, *s) for p in self.pretrain_cells() for s in settings]
        for baseline, input_, budget in itertools.product(
            self.baselines, self.inputs, self.budgets
        ):
            protocol = "finetune" if baseline == "supervised" else "linear"
            cells.append(EvalCell(baseline, protocol, input_, budget))
        return cells


_PRETRAIN_KEYS = {"config", "modes", "augments", "subsets", "batch_sizes", "steps", "overrides"}
_EVAL_KEYS = {
    "protocols",
    "inputs",
    "budgets",
    "seeds",
    "baselines",
    "backbone",
    "epochs",
    "finetune_epochs",
    "val_fraction",
    "scheme",
    "label_type",
    "labels",
}


def _check(source: str | Path, where: str, keys: Any, known: set[str]) -> None:
    for key in keys:
        if key not in known:
            near = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise DataError(source, f"unknown key {where}{key!r}{hint}", "config")


def _budget(value: Any, source: str | Path) -> int | None:
    if value == "full":
        return None
    if isinstance(value, int) and value > 1:
        return value
    raise DataError(source, f"budget must be a number > 1 or 'full', got {value!r}", "config")


def _path(value: str | None, base: Path) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else base / path)


def parse_experiment(raw: dict[str, Any], source: str | Path, base: Path) -> Experiment:
    """An Experiment from a YAML mapping; unknown keys are refused with the nearest name."""
    _check(source, "", raw, {"data", "pretrain", "evaluate"})
    pre = raw.get("pretrain") or {}
    ev = raw.get("evaluate") or {}
    _check(source, "pretrain.", pre, _PRETRAIN_KEYS)
    _check(source, "evaluate.", ev, _EVAL_KEYS)
    config = str(pre.get("config", "cpu-small"))
    if config.endswith((".yaml", ".yml")):
        config = str(_path(config, base))
    subsets = pre.get("subsets", {"full": None})
    if not isinstance(subsets, dict):
        raise DataError(source, "pretrain.subsets must map a name to an ids file (or null)")
    baselines = tuple(ev.get("baselines", BASELINES))
    _check(source, "evaluate.baselines: ", baselines, set(BASELINES))
    try:
        return Experiment(
            data=_path(raw.get("data"), base),
            pretrain_config=config,
            modes=tuple(pre.get("modes", ("sensor-pairs",))),
            augments=tuple(pre.get("augments", ("auto",))),
            subsets={str(k): _path(v, base) for k, v in subsets.items()},
            batch_sizes=tuple(int(b) for b in pre.get("batch_sizes", (32,))),
            steps=tuple(int(s) for s in pre.get("steps", (300,))),
            pretrain_overrides=dict(pre.get("overrides") or {}),
            protocols=tuple(ev.get("protocols", ("linear",))),
            inputs=tuple(ev.get("inputs", ("s1s2",))),
            budgets=tuple(_budget(b, source) for b in ev.get("budgets", [defaults.LABEL_BUDGET])),
            seeds=tuple(int(s) for s in ev.get("seeds", defaults.EVAL_SEEDS)),
            baselines=baselines,
            backbone=str(ev.get("backbone", "resnet18")),
            epochs=int(ev.get("epochs", defaults.EVAL_EPOCHS)),
            finetune_epochs=int(ev.get("finetune_epochs", defaults.EVAL_EPOCHS)),
            val_fraction=float(ev.get("val_fraction", defaults.VAL_FRACTION)),
            scheme=str(ev.get("scheme", defaults.LABEL_SCHEME)),
            label_type=str(ev.get("label_type", "single")),
            labels_csv=_path(ev.get("labels"), base),
        )
    except (TypeError, ValueError) as exc:
        raise DataError(source, f"invalid experiment: {exc}", "config") from exc


def demo_experiment() -> Experiment:
    """The embedded default's experiment (packaged copy of configs/demo/experiment.yaml)."""
    resource = files("sensormoco.resources").joinpath("experiments/demo.yaml")
    raw = yaml.safe_load(resource.read_text(encoding="utf-8"))
    return parse_experiment(raw, "sensormoco/resources/experiments/demo.yaml", Path.cwd())


def load_experiment(path: str | Path) -> Experiment:
    """Read an experiment YAML file (one-line errors naming it)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(path, f"cannot read experiment file ({exc.strerror})", "missing") from exc
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise DataError(path, f"not valid YAML ({first})", "config") from exc
    if not isinstance(raw, dict):
        raise DataError(path, "an experiment file must be a YAML mapping", "config")
    return parse_experiment(raw, path, path.parent)
