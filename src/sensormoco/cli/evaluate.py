"""``sensormoco evaluate --data ROOT --encoder FILE --protocol linear|finetune|knn --out DIR``.

Scene classification on SEN12MS at a label budget over seeds, with retrieval and missing-sensor
robustness where the encoder takes either sensor. ``--variant supervised`` (no encoder) gives the
randomly initialised baselines.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sensormoco import defaults

# torch is imported when the command runs; these names are checked against the code by tests
VARIANT_NAMES = "supervised, supervised-1x1, moco, moco-1x1, moco-1x1-rnd"


def _budget(text: str) -> int | None:
    if text == "full":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"budget must be a number or 'full', got {text!r}"
        ) from None


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "transfer evaluation: scene classification, retrieval, robustness"
    p = subparsers.add_parser("evaluate", help=help_text, description=help_text)
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        metavar="ROOT",
        help="SEN12MS tree or packed store (sensormoco pack)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="run directory")
    p.add_argument("--encoder", type=Path, help="exported encoder (encoder.pt of a pretrain run)")
    p.add_argument(
        "--variant", help=f"{VARIANT_NAMES} (default: moco with --encoder, else supervised)"
    )
    p.add_argument(
        "--protocol", default=defaults.EVAL_PROTOCOL, choices=("linear", "finetune", "knn")
    )
    p.add_argument("--input", default=defaults.EVAL_INPUT, choices=("s1", "s2", "s1s2"))
    p.add_argument(
        "--dataset",
        default="sen12ms",
        choices=("sen12ms", "bigearthnet"),
        help="sen12ms (ROOT: the tree) or bigearthnet (ROOT: v1's S1 and S2 archives or a v2 "
        "root, detected)",
    )
    p.add_argument(
        "--splits",
        type=Path,
        metavar="DIR",
        help="BigEarthNet v1: folder of train.csv, val.csv, test.csv (default ROOT; v2 roots "
        "carry their splits)",
    )
    p.add_argument(
        "--stats",
        type=Path,
        metavar="JSON",
        help="BigEarthNet v2: statistics from `sensormoco stats bigearthnet` (default: the "
        "published train-split ones)",
    )
    p.add_argument(
        "--label-type",
        choices=("single", "multi"),
        help="single or multi (default: single on SEN12MS, multi on BigEarthNet)",
    )
    p.add_argument(
        "--scheme",
        choices=("igbp10", "igbp17", "19", "43"),
        help=f"classes (default: {defaults.LABEL_SCHEME} on SEN12MS, 19 on BigEarthNet)",
    )
    p.add_argument(
        "--budget",
        type=_budget,
        default=defaults.LABEL_BUDGET,
        help="labelled patches (64 ... 4096) or 'full'",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=list(defaults.EVAL_SEEDS))
    p.add_argument("--backbone", default=defaults.BACKBONE, help="backbone of supervised variants")
    p.add_argument("--epochs", type=int, default=defaults.EVAL_EPOCHS)
    p.add_argument("--batch-size", type=int, default=defaults.EVAL_BATCH_SIZE)
    p.add_argument("--lr", type=float, help="learning rate (default: the protocol's)")
    p.add_argument(
        "--val-fraction",
        type=float,
        default=defaults.VAL_FRACTION,
        help="share of non-test patches in validation scenes",
    )
    p.add_argument("--labels", type=Path, metavar="CSV", help="labels.csv (else read from lc)")
    p.add_argument("--index", type=Path, metavar="CSV", help="index.csv from `sensormoco index`")
    p.add_argument(
        "--workers",
        type=int,
        default=defaults.SCAN_WORKERS,
        help="processes that scan the tree and load samples (0: this one)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.evaluation.run import EvalConfig, run_evaluation, summary_line

    variant = args.variant or ("moco" if args.encoder else "supervised")
    ben = args.dataset == "bigearthnet"
    label_type = args.label_type or ("multi" if ben else "single")
    scheme = args.scheme or ("19" if ben else defaults.LABEL_SCHEME)
    config = EvalConfig(
        data=str(args.data),
        encoder=str(args.encoder) if args.encoder else None,
        variant=variant,
        protocol=args.protocol,
        input=args.input,
        label_type=label_type,
        scheme=scheme,
        dataset=args.dataset,
        splits=str(args.splits) if args.splits else None,
        statistics=str(args.stats) if args.stats else None,
        budget=args.budget,
        seeds=tuple(args.seeds),
        backbone=args.backbone,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        val_fraction=args.val_fraction,
        labels_csv=str(args.labels) if args.labels else None,
        index_csv=str(args.index) if args.index else None,
        workers=args.workers,
    )
    result = run_evaluation(config, args.out)
    line = summary_line(result)
    print(
        f"evaluated {variant} ({args.protocol}, {args.input}, budget {result['budget']}): "
        f"{line} over {len(args.seeds)} seed(s); wrote {args.out / 'metrics.json'}"
    )
    return 0
