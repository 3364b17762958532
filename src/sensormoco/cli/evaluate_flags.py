"""The flags of ``sensormoco evaluate``: one per field of
:class:`~sensormoco.evaluation.config.EvalConfig` (FLAGS), their parsers, and the config's
defaults shown in ``--help`` (DEFAULTS; the tests check both tables against the dataclass,
which is not imported here: it pulls in torch)."""

from __future__ import annotations

import argparse
from typing import Any

from sensormoco import defaults
from sensormoco.cli.parser import existing_dir, existing_file

# torch is imported when the command runs; these names are checked against the code by tests
VARIANT_NAMES = "supervised, supervised-1x1, moco, moco-1x1, moco-1x1-rnd"
VARIANT_CHOICES = tuple(VARIANT_NAMES.split(", "))


FULL = "full"  # --budget full: the whole split (EvalConfig's budget None)


def _budget(text: str) -> int | str:
    if text == FULL:
        return FULL
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be a number or 'full', got {text!r}"
        ) from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"budget must be at least 2 patches, got {value}")
    return value


def _positive(kind: type) -> Any:
    def check(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    check.__name__ = kind.__name__
    return check


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


# flag -> (EvalConfig field, parse, help, extra add_argument keywords)
FLAGS: dict[str, tuple[str, Any, str, dict[str, Any]]] = {
    "--encoder": (
        "encoder",
        existing_file("--encoder"),
        "exported encoder (encoder.pt of a pretrain run)",
        {"metavar": "FILE"},
    ),
    "--variant": (
        "variant",
        str,
        f"weights the classifier starts from: {VARIANT_NAMES} "
        "(default: moco with --encoder, else supervised)",
        {"choices": VARIANT_CHOICES},
    ),
    "--protocol": (
        "protocol",
        str,
        "linear probe on frozen features, fine-tuning of the whole network, or kNN",
        {"choices": ("linear", "finetune", "knn")},
    ),
    "--input": ("input", str, "sensors the classifier sees", {"choices": ("s1", "s2", "s1s2")}),
    "--dataset": (
        "dataset",
        str,
        "sen12ms (ROOT: the tree or a store) or bigearthnet (ROOT: "
        "v1's S1 and S2 archives or a v2 root, detected)",
        {"choices": ("sen12ms", "bigearthnet")},
    ),
    "--splits": (
        "splits",
        existing_dir("--splits", "folder"),
        "BigEarthNet v1: folder of "
        "train.csv, val.csv, test.csv (default: ROOT; v2 roots carry their splits)",
        {"metavar": "DIR"},
    ),
    "--stats": (
        "statistics",
        existing_file("--stats"),
        "BigEarthNet v2: statistics from "
        "`sensormoco stats bigearthnet` (default: the published train-split ones)",
        {"metavar": "JSON"},
    ),
    "--label-type": (
        "label_type",
        str,
        "single or multi (default: single on SEN12MS, multi on BigEarthNet)",
        {"choices": ("single", "multi")},
    ),
    "--scheme": (
        "scheme",
        str,
        f"classes (default: {defaults.LABEL_SCHEME} on SEN12MS, 19 on BigEarthNet)",
        {"choices": ("igbp10", "igbp17", "19", "43")},
    ),
    "--budget": (
        "budget",
        _budget,
        "labelled patches drawn per seed, "
        f"{round(defaults.BUDGET_TRAIN_FRACTION * 100)} %% from train and the rest from "
        "validation scenes (at least 2), or 'full' (the whole split)",
        {"metavar": "N"},
    ),
    "--seeds": (
        "seeds",
        int,
        "seeds, one run each (mean ± std over them)",
        {"nargs": "+", "metavar": "S"},
    ),
    "--backbone": (
        "backbone",
        str,
        "backbone of the supervised variants (an encoder brings its own)",
        {},
    ),
    "--epochs": (
        "epochs",
        _positive(int),
        "epochs over the budget's training part (the best validation epoch is kept)",
        {},
    ),
    "--batch-size": ("batch_size", _positive(int), "batch size", {}),
    "--lr": (
        "lr",
        _positive(float),
        "learning rate, used as is (default: chosen per seed on validation from --lr-grid)",
        {},
    ),
    "--lr-grid": (
        "lr_grid",
        _positive(float),
        "learning rates tried per seed when --lr is not given; the best on validation is "
        "kept (default: "
        + " ".join(map(str, defaults.EVAL_LINEAR_LR_GRID))
        + " linear, "
        + " ".join(map(str, defaults.EVAL_FINETUNE_LR_GRID))
        + " finetune)",
        {"nargs": "+", "metavar": "LR"},
    ),
    "--val-fraction": (
        "val_fraction",
        _fraction,
        "share of non-test patches in validation scenes",
        {"metavar": "F"},
    ),
    "--split-seed": ("split_seed", int, "seed of the validation scenes", {"metavar": "S"}),
    "--labels": (
        "labels_csv",
        existing_file("--labels"),
        "labels.csv (else read from lc)",
        {"metavar": "CSV"},
    ),
    "--index": (
        "index_csv",
        existing_file("--index"),
        "index.csv from `sensormoco index` (else ROOT is scanned)",
        {"metavar": "CSV"},
    ),
    "--workers": (
        "workers",
        _non_negative,
        "processes that scan the tree and load samples (0: this process)",
        {},
    ),
    "--device": (
        "device",
        str,
        "where the networks run: auto (CUDA when available), cpu, cuda:0, ...",
        {},
    ),
}
# EvalConfig's defaults (checked against it by the tests), shown in --help
DEFAULTS: dict[str, Any] = {
    "protocol": defaults.EVAL_PROTOCOL,
    "input": defaults.EVAL_INPUT,
    "dataset": "sen12ms",
    "budget": defaults.LABEL_BUDGET,
    "seeds": defaults.EVAL_SEEDS,
    "backbone": defaults.BACKBONE,
    "epochs": defaults.EVAL_EPOCHS,
    "batch_size": defaults.EVAL_BATCH_SIZE,
    "val_fraction": defaults.VAL_FRACTION,
    "split_seed": defaults.SEED,
    "workers": defaults.SCAN_WORKERS,
    "device": "auto",
}
