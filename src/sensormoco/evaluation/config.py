"""Settings of one evaluation run."""

from __future__ import annotations

from dataclasses import dataclass

from sensormoco import defaults
from sensormoco.evaluation.classify import LABEL_TYPES, PROTOCOLS
from sensormoco.evaluation.variants import VARIANTS

DATASETS = ("sen12ms", "bigearthnet")
# the validation score that picks the epoch: threshold-free where possible
SELECT_BY = {"single": "oa", "multi": "micro_map"}
# settings that decide how fast a run goes, not what it computes (a run may resume with others)
SPEED_ONLY = ("workers", "device")


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one evaluation run (``budget`` None: the full split)."""

    data: str
    encoder: str | None = None
    dataset: str = "sen12ms"  # or "bigearthnet" (multi-label, scheme "19" or "43")
    splits: str | None = None  # BigEarthNet: folder of train.csv, val.csv, test.csv
    statistics: str | None = None  # BigEarthNet v2: stats JSON (default: published train stats)
    variant: str = "moco"
    protocol: str = defaults.EVAL_PROTOCOL
    input: str = defaults.EVAL_INPUT
    label_type: str = "single"
    scheme: str = defaults.LABEL_SCHEME
    budget: int | None = defaults.LABEL_BUDGET
    seeds: tuple[int, ...] = defaults.EVAL_SEEDS
    backbone: str = defaults.BACKBONE  # of the supervised variants
    epochs: int = defaults.EVAL_EPOCHS
    batch_size: int = defaults.EVAL_BATCH_SIZE
    lr: float | None = None  # given: used as is; None: chosen on validation from lr_grid
    lr_grid: tuple[float, ...] | None = None  # None: the protocol's default grid
    val_fraction: float = defaults.VAL_FRACTION
    labels_csv: str | None = None
    index_csv: str | None = None
    workers: int = defaults.SCAN_WORKERS  # processes that scan the tree and load samples
    device: str = "auto"  # where networks run: "auto" (CUDA when available), "cpu", "cuda:0"
    split_seed: int = defaults.SEED

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; choose one of {list(VARIANTS)}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"unknown protocol {self.protocol!r}; choose one of {list(PROTOCOLS)}")
        if self.label_type not in LABEL_TYPES:
            raise ValueError(f"unknown label type {self.label_type!r}; choose {list(LABEL_TYPES)}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {list(DATASETS)}")
        if self.dataset == "bigearthnet" and (self.label_type, self.scheme) not in (
            ("multi", "19"),
            ("multi", "43"),
        ):
            raise ValueError(
                "BigEarthNet is multi-label with scheme 19 or 43 "
                f"(got {self.label_type}, {self.scheme})"
            )
        if not self.seeds:
            raise ValueError("give at least one seed")
        if self.workers < 0:
            raise ValueError(f"workers must be at least 0, got {self.workers}")
        if self.budget is not None and self.budget < 2:
            raise ValueError(f"budget must be at least 2 patches, got {self.budget}")
        if self.lr is not None and self.lr_grid is not None:
            raise ValueError("give a fixed lr or an lr_grid to choose it from, not both")
        if self.lr_grid is not None and not self.lr_grid:
            raise ValueError("the learning-rate grid is empty")
        if any(lr <= 0 for lr in (*(self.lr_grid or ()), self.lr or 1.0)):
            raise ValueError("learning rates must be positive")

    @property
    def resolved_lr_grid(self) -> tuple[float, ...]:
        """The learning rates tried per seed (one: ``lr`` given, nothing to choose)."""
        if self.lr is not None:
            return (self.lr,)
        if self.lr_grid is not None:
            return self.lr_grid
        if self.protocol == "finetune":
            return defaults.EVAL_FINETUNE_LR_GRID
        return defaults.EVAL_LINEAR_LR_GRID
