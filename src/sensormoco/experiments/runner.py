"""Run an experiment matrix: pre-training cells, then evaluation cells, then what the report
reads (majority.json, embedding.npz), then the report.

A finished cell is never run twice (its final file exists); an interrupted pre-training cell
resumes from its last checkpoint; an interrupted evaluation cell (no metrics.json yet) resumes
with the seeds it finished kept. Evaluation cells share one feature cache (``features/``, keyed
by network, input and ids), so an encoder's test features are computed once for every budget.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from sensormoco import defaults
from sensormoco.atomic import atomic_write_text
from sensormoco.data.bands import accepts
from sensormoco.errors import DataError
from sensormoco.evaluation.data import LabelledSEN12MS, load_sen12ms
from sensormoco.evaluation.result import EvalResult
from sensormoco.evaluation.run import FEATURES, EvalConfig, run_evaluation
from sensormoco.experiments.matrix import EvalCell, Experiment, PretrainCell
from sensormoco.experiments.report import write_report
from sensormoco.experiments.report_data import FEATURES as SHARED_FEATURES
from sensormoco.experiments.report_data import update_report_data
from sensormoco.experiments.results import MatrixResults
from sensormoco.training.config import load_config
from sensormoco.training.pretrain import CHECKPOINT, run_pretrain
from sensormoco.training.views import encoder_bands

Progress = Callable[[str], None]


def pretrain_dir(out: Path, cell: PretrainCell) -> Path:
    return out / "pretrain" / cell.name


def eval_dir(out: Path, cell: EvalCell) -> Path:
    return out / "eval" / cell.name


def run_pretrain_cell(
    exp: Experiment, cell: PretrainCell, data: str, out: Path, progress: Progress
) -> dict[str, Any]:
    """The cell's summary: read if finished, else trained (resumed if interrupted)."""
    run = pretrain_dir(out, cell)
    if (run / "summary.json").is_file():
        progress(f"pretrain {cell.name}: cached")
        summary: dict[str, Any] = json.loads((run / "summary.json").read_text())
        return summary
    overrides = dict(exp.pretrain_overrides) | {
        "mode": cell.mode,
        "augment": cell.augment,
        "batch_size": cell.batch_size,
        "max_steps": cell.steps,
        "subset": exp.subsets[cell.subset],
    }
    if cell.seed is not None:
        overrides["seed"] = cell.seed
    config = load_config(exp.pretrain_config, overrides)
    resume = (run / CHECKPOINT).is_file()
    progress(
        f"pretrain {cell.name}: {'resuming' if resume else 'starting'} "
        f"({cell.steps} steps of {cell.batch_size})"
    )
    return run_pretrain(config, data, run, resume=resume)


def _fits(exp: Experiment, cell: EvalCell, cells: dict[str, PretrainCell]) -> bool:
    """Whether the cell's encoder can take its input (augment-mode encoders take one input)."""
    source = cells.get(cell.source)
    if source is None:
        return True
    bands = encoder_bands(source.mode, exp.pretrain_overrides.get("input", defaults.PRETRAIN_INPUT))
    return accepts(bands, cell.input)


def eval_config(exp: Experiment, cell: EvalCell, out: Path, data: str) -> EvalConfig:
    """The evaluation settings of a cell."""
    common: dict[str, Any] = {
        "data": data,
        "protocol": cell.protocol,
        "input": cell.input,
        "label_type": exp.label_type,
        "scheme": exp.scheme,
        "budget": cell.budget,
        "seeds": exp.seeds,
        "backbone": exp.backbone,
        "val_fraction": exp.val_fraction,
        "labels_csv": exp.labels_csv,
    }
    epochs = exp.epochs
    if cell.protocol == "finetune":
        epochs = exp.finetune_epochs
        if exp.finetune_lr_grid is not None:
            common["lr_grid"] = exp.finetune_lr_grid
    if cell.source in ("supervised", "random"):
        return EvalConfig(variant="supervised", epochs=epochs, **common)
    encoder = str(out / "pretrain" / cell.source / "encoder.pt")
    return EvalConfig(encoder=encoder, variant="moco", epochs=epochs, **common)


def lazy_labelled(exp: Experiment, root: str) -> Callable[[], LabelledSEN12MS]:
    """The experiment's labelled SEN12MS, loaded on first call and shared afterwards (the
    evaluation cells and the report's embedding map read the same scan and labels)."""
    return functools.cache(
        lambda: load_sen12ms(root, exp.scheme, exp.labels_csv, None, exp.val_fraction)
    )


def _share_features(run: Path, out: Path) -> None:
    """Link the cell's feature folder to the experiment's (a private one where links fail)."""
    (out / SHARED_FEATURES).mkdir(parents=True, exist_ok=True)
    link = run / FEATURES
    if link.exists() or link.is_symlink():
        return
    run.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):  # no links (some Windows setups): features of its own
        os.symlink(Path("..") / ".." / SHARED_FEATURES, link, target_is_directory=True)


def _root(exp: Experiment, out: Path, data: str | None) -> str:
    root = data or exp.data
    if root is None:
        raise DataError(out, "no data: give `data:` in the experiment file or --data")
    return root


def run_experiment(
    exp: Experiment,
    out: str | Path,
    progress: Progress = print,
    data: str | None = None,
    labelled: Callable[[], LabelledSEN12MS] | None = None,
) -> MatrixResults:
    """Run every cell of ``exp`` not yet finished under ``out``, then write what the report
    reads; returns the cells' results (absent: cells that do not fit their encoder).
    ``labelled`` provides the evaluation data (default: :func:`lazy_labelled`)."""
    out = Path(out)
    root = _root(exp, out, data)
    labelled = labelled or lazy_labelled(exp, root)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / "experiment.yaml", yaml.safe_dump(asdict(exp) | {"data": root}, sort_keys=False)
    )
    start = time.perf_counter()
    pre_cells = {c.name: c for c in exp.pretrain_cells()}
    results = MatrixResults()
    for pre in pre_cells.values():
        results.pretrain[pre.name] = run_pretrain_cell(exp, pre, root, out, progress)
    cells = [c for c in exp.eval_cells() if _fits(exp, c, pre_cells)]
    for i, cell in enumerate(cells, 1):
        run = eval_dir(out, cell)
        if (run / "metrics.json").is_file():
            progress(f"evaluate [{i}/{len(cells)}] {cell.name}: cached")
            results.eval[cell.name] = EvalResult.load(run / "metrics.json")
            continue
        progress(f"evaluate [{i}/{len(cells)}] {cell.name}")
        config = eval_config(exp, cell, out, root)
        _share_features(run, out)
        results.eval[cell.name] = run_evaluation(
            config, run, progress, data=labelled(), resume=True
        )
    progress("report data: majority class and embedding map")
    update_report_data(exp, out, labelled())
    results.seconds = round(time.perf_counter() - start, 1)
    return results


def run_and_report(
    exp: Experiment, out: str | Path, progress: Progress = print, data: str | None = None
) -> Path:
    """Run the matrix (:func:`run_experiment`), then write its table, figures and report.md."""
    results = run_experiment(exp, out, progress, data)
    return write_report(exp, results, out)
