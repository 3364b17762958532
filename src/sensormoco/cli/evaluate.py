"""``sensormoco evaluate --data ROOT --encoder FILE [--protocol linear|finetune|knn] --out DIR``.

Scene classification on SEN12MS at a label budget over seeds, with retrieval and missing-sensor
robustness where the encoder takes either sensor. ``--variant supervised`` (no encoder) gives the
randomly initialised baselines: a linear probe on a random backbone, or a network trained from
scratch (``--protocol finetune``).

The flags are those of :class:`~sensormoco.evaluation.run.EvalConfig`, one per field
(:mod:`sensormoco.cli.evaluate_flags`).
"""

from __future__ import annotations

import argparse
from typing import Any

from sensormoco import defaults
from sensormoco.cli.evaluate_flags import DEFAULTS, FLAGS, FULL
from sensormoco.cli.parser import add_output, existing_dir
from sensormoco.errors import DataError
from sensormoco.rundir import check_run_folder


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "transfer evaluation: scene classification, retrieval, robustness"
    p = subparsers.add_parser("evaluate", help=help_text, description=help_text)
    p.add_argument(
        "--data",
        type=existing_dir("--data"),
        required=True,
        metavar="ROOT",
        help="SEN12MS tree or packed store (sensormoco pack), or BigEarthNet "
        "archives (see --dataset)",
    )
    add_output(p, "run directory (new or empty; or --resume)", "DIR", old=None)
    for flag, (field, kind, text, extra) in FLAGS.items():
        shown = DEFAULTS.get(field)
        if isinstance(shown, tuple):
            shown = " ".join(map(str, shown))
        text = text if shown is None else f"{text} (default: {shown})"
        p.add_argument(flag, dest=field, type=kind, help=text, **extra)
    p.add_argument(
        "--resume", action="store_true", help="continue the run in DIR (finished seeds are kept)"
    )
    p.set_defaults(func=_run)


def display_name(variant: str, protocol: str) -> str:
    """The name of a variant under a protocol: the supervised variants are supervised models
    only when fine-tuned; a linear probe or kNN on them measures a random-init network."""
    if variant.startswith("supervised") and protocol != "finetune":
        return variant.replace("supervised", "random-init")
    return variant


def _config(args: argparse.Namespace) -> tuple[Any, Any]:
    """The EvalConfig of the arguments, every check that needs no data done, and the encoder
    file read (once for the run; None without ``--encoder``)."""
    from sensormoco.evaluation.run import EvalConfig
    from sensormoco.training.checkpoint import encoder_metadata
    from sensormoco.training.encoder_file import read_encoder_file

    given = {field: getattr(args, field) for field, *_ in FLAGS.values()}
    values = {k: v for k, v in given.items() if v is not None}
    ben = values.get("dataset") == "bigearthnet"
    values.setdefault("variant", "moco" if args.encoder else "supervised")
    values.setdefault("label_type", "multi" if ben else "single")
    values.setdefault("scheme", "19" if ben else defaults.LABEL_SCHEME)
    if values["variant"].startswith("moco") and args.encoder is None:
        raise DataError("--encoder", f"variant {values['variant']} needs --encoder FILE")
    encoder = None
    if args.encoder is not None:
        if values["variant"].startswith("supervised"):
            raise DataError("--encoder", f"variant {values['variant']} takes no encoder")
        encoder = read_encoder_file(args.encoder)  # a missing or corrupt file fails here, fast
        values["backbone"] = encoder_metadata(encoder)["backbone"]
    for key in ("encoder", "splits", "statistics", "labels_csv", "index_csv"):
        if key in values:
            values[key] = str(values[key])
    if values.get("budget") == FULL:
        values["budget"] = None
    for key in ("seeds", "lr_grid"):
        if key in values:
            values[key] = tuple(values[key])
    return EvalConfig(data=str(args.data), **values), encoder


def _budget_hint(exc: ValueError, args: argparse.Namespace, config: Any) -> str:
    given = "given" if args.budget is not None else "the default"
    return (
        f"{exc} (--budget {config.budget} is {given}; choose a smaller --budget or 'full', "
        f"or a larger --val-fraction, now {config.val_fraction})"
    )


def _run(args: argparse.Namespace) -> int:
    check_run_folder(args.out, args.resume)
    config, encoder = _config(args)
    from sensormoco.evaluation.run import FEATURES, run_evaluation, summary_line
    from sensormoco.evaluation.seed_results import FOLDER as SEEDS
    from sensormoco.progress import is_quiet
    from sensormoco.rundir import run_folder
    from sensormoco.runlog import log_to

    progress = (lambda _: None) if is_quiet() else print
    # finished seeds and computed features make a failed run resumable: kept, not cleaned
    kept = [SEEDS, FEATURES]
    with run_folder(args.out, args.resume, resumable=kept), log_to(args.out / "console.log"):
        try:
            result = run_evaluation(config, args.out, progress, resume=args.resume, encoder=encoder)
        except ValueError as exc:
            if str(exc).startswith("budget ") and " needs " in str(exc):
                raise ValueError(_budget_hint(exc, args, config)) from exc
            raise
    name = display_name(config.variant, config.protocol)
    chosen = [r["lr"] for r in result.per_seed if len(r.get("lr_grid", ())) > 1]
    lrs = f"lr chosen on validation per seed: {', '.join(f'{v:g}' for v in chosen)}; "
    print(
        f"evaluated {name} ({config.protocol}, {config.input}, budget {result.budget}): "
        f"{summary_line(result)} over {len(config.seeds)} seed(s); {lrs if chosen else ''}"
        f"wrote {args.out / 'metrics.json'}"
    )
    return 0
