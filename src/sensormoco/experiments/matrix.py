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
  seeds: [0, 1, 2]             # pre-training seeds (absent: one run, the config's own seed)
evaluate:
  protocols: [linear]
  inputs: [s1, s2, s1s2]
  budgets: [1024]              # or "full"
  finetune_budgets: [1024]     # of fine-tuning cells (absent: budgets)
  finetune_inputs: [s1s2]      # of fine-tuning cells (absent: inputs)
  seeds: [0, 1, 2]
  baselines: [supervised, random]  # fine-tuned from random init; linear probe on random init
  ...                          # backbone, epochs, finetune_epochs, val_fraction, scheme, label_type
```

Every cell has a stable name, so its directory tells whether it is done (its final file exists:
``summary.json`` of a pre-training run, ``metrics.json`` of an evaluation). With
``pretrain.seeds`` each pre-training cell runs once per seed (its name ends in ``_seed{S}``) and
every evaluation cell of its encoder runs per pre-training seed; without it a cell keeps its
seedless name (the folders of earlier experiments stay valid).
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
    seed: int | None = None  # None: the pre-training config's own seed

    @property
    def group(self) -> str:
        """The name shared by the cell's pre-training seeds."""
        return f"{self.mode}_{self.augment}_{self.subset}_b{self.batch_size}_s{self.steps}"

    @property
    def name(self) -> str:
        return self.group if self.seed is None else f"{self.group}_seed{self.seed}"

    def label(self, with_seed: bool = True) -> str:
        """Readable: ``sensor-pairs (batch 32, 400 steps, seed 1)``."""
        extra = [] if self.augment == "auto" else [f"augment {self.augment}"]
        extra += [] if self.subset == "full" else [f"subset {self.subset}"]
        extra += [f"batch {self.batch_size}", f"{self.steps} steps"]
        extra += [] if self.seed is None or not with_seed else [f"seed {self.seed}"]
        return f"{self.mode} ({', '.join(extra)})"


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
    pretrain_seeds: tuple[int | None, ...] = (None,)
    pretrain_overrides: dict[str, Any] = field(default_factory=dict)
    protocols: tuple[str, ...] = ("linear",)
    inputs: tuple[str, ...] = ("s1s2",)
    budgets: tuple[int | None, ...] = (defaults.LABEL_BUDGET,)
    finetune_budgets: tuple[int | None, ...] | None = None  # None: budgets
    finetune_inputs: tuple[str, ...] | None = None  # None: inputs
    seeds: tuple[int, ...] = defaults.EVAL_SEEDS
    baselines: tuple[str, ...] = BASELINES
    backbone: str = "resnet18"  # of the baselines (match the pre-training backbone)
    epochs: int = defaults.EVAL_EPOCHS
    finetune_epochs: int = defaults.EVAL_EPOCHS
    # fine-tuning learning rates chosen from on validation (None: defaults.EVAL_FINETUNE_LR_GRID)
    finetune_lr_grid: tuple[float, ...] | None = None
    val_fraction: float = defaults.VAL_FRACTION
    scheme: str = defaults.LABEL_SCHEME
    label_type: str = "single"
    labels_csv: str | None = None

    def pretrain_cells(self) -> list[PretrainCell]:
        grid = itertools.product(
            self.modes,
            self.augments,
            self.subsets,
            self.batch_sizes,
            self.steps,
            self.pretrain_seeds,
        )
        return [PretrainCell(*values) for values in grid]

    def budgets_of(self, protocol: str) -> tuple[int | None, ...]:
        """The label budgets the protocol's cells run at."""
        if protocol == "finetune" and self.finetune_budgets is not None:
            return self.finetune_budgets
        return self.budgets

    def inputs_of(self, protocol: str) -> tuple[str, ...]:
        """The inputs the protocol's cells run on."""
        if protocol == "finetune" and self.finetune_inputs is not None:
            return self.finetune_inputs
        return self.inputs

    def _settings(self, protocol: str) -> list[tuple[str, str, int | None]]:
        grid = itertools.product(self.inputs_of(protocol), self.budgets_of(protocol))
        return [(protocol, i, b) for i, b in grid]

    def eval_cells(self) -> list[EvalCell]:
        settings = [s for p in self.protocols for s in self._settings(p)]
        cells = [EvalCell(p.name, *s) for p in self.pretrain_cells() for s in settings]
        for baseline in self.baselines:
            protocol = "finetune" if baseline == "supervised" else "linear"
            cells += [EvalCell(baseline, *s) for s in self._settings(protocol)]
        return cells


_PRETRAIN_KEYS = {
    "config",
    "modes",
    "augments",
    "subsets",
    "batch_sizes",
    "steps",
    "seeds",
    "overrides",
}
_EVAL_KEYS = {
    "protocols",
    "inputs",
    "budgets",
    "finetune_budgets",
    "finetune_inputs",
    "seeds",
    "baselines",
    "backbone",
    "epochs",
    "finetune_epochs",
    "finetune_lr_grid",
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
    seeds = pre.get("seeds")
    if seeds is not None and (not isinstance(seeds, list) or not seeds):
        raise DataError(source, f"pretrain.seeds must be a non-empty list, got {seeds!r}", "config")
    ft_budgets, ft_inputs = ev.get("finetune_budgets"), ev.get("finetune_inputs")
    try:
        return Experiment(
            data=_path(raw.get("data"), base),
            pretrain_config=config,
            modes=tuple(pre.get("modes", ("sensor-pairs",))),
            augments=tuple(pre.get("augments", ("auto",))),
            subsets={str(k): _path(v, base) for k, v in subsets.items()},
            batch_sizes=tuple(int(b) for b in pre.get("batch_sizes", (32,))),
            steps=tuple(int(s) for s in pre.get("steps", (300,))),
            pretrain_seeds=(None,) if seeds is None else tuple(int(s) for s in seeds),
            pretrain_overrides=dict(pre.get("overrides") or {}),
            protocols=tuple(ev.get("protocols", ("linear",))),
            inputs=tuple(ev.get("inputs", ("s1s2",))),
            budgets=tuple(_budget(b, source) for b in ev.get("budgets", [defaults.LABEL_BUDGET])),
            finetune_budgets=None
            if ft_budgets is None
            else tuple(_budget(b, source) for b in ft_budgets),
            finetune_inputs=None if ft_inputs is None else tuple(str(i) for i in ft_inputs),
            seeds=tuple(int(s) for s in ev.get("seeds", defaults.EVAL_SEEDS)),
            baselines=baselines,
            backbone=str(ev.get("backbone", "resnet18")),
            epochs=int(ev.get("epochs", defaults.EVAL_EPOCHS)),
            finetune_epochs=int(ev.get("finetune_epochs", defaults.EVAL_EPOCHS)),
            finetune_lr_grid=None
            if ev.get("finetune_lr_grid") is None
            else tuple(float(lr) for lr in ev["finetune_lr_grid"]),
            val_fraction=float(ev.get("val_fraction", defaults.VAL_FRACTION)),
            scheme=str(ev.get("scheme", defaults.LABEL_SCHEME)),
            label_type=str(ev.get("label_type", "single")),
            labels_csv=_path(ev.get("labels"), base),
        )
    except (TypeError, ValueError) as exc:
        raise DataError(source, f"invalid experiment: {exc}", "config") from exc


DEMO = "experiments/demo.yaml"  # under sensormoco/resources/ (configs/demo links to it)


def demo_experiment() -> Experiment:
    """The embedded default's experiment: the packaged ``resources/experiments/demo.yaml``,
    its one definition (``configs/demo/experiment.yaml`` is a link to it)."""
    resource = files("sensormoco.resources").joinpath(DEMO)
    raw = yaml.safe_load(resource.read_text(encoding="utf-8"))
    return parse_experiment(raw, f"sensormoco/resources/{DEMO}", Path.cwd())


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
