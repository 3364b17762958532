"""``sensormoco export ENCODER -o DIR`` (or ``--encoder ENCODER``, as in ``evaluate``): a folder
a timm / Hugging Face user recognises.

``model.safetensors`` (backbone, timm key names), ``config.json`` (timm's convention plus the
bands and input rules), ``README.md`` (the model card) and, for a 1x1 adapter,
``adapter.safetensors``. Per-sensor encoders (``encoder: per-sensor``) give one such folder
per network, ``DIR/s1`` and ``DIR/s2``, and ``DIR/README.md`` on how to combine them. Written
as ``DIR.partial`` and renamed when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sensormoco.cli.parser import Parser


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    help_text = "export an encoder as safetensors + timm config.json + model card"
    p: Parser = subparsers.add_parser("export", help=help_text, description=help_text)
    text = "encoder.pt of a pre-training run (per-sensor encoders: DIR/s1, DIR/s2)"
    p.add_argument(
        "encoder", nargs="?", type=Path, metavar="ENCODER", help=f"{text} (or --encoder)"
    )
    p.add_argument("--encoder", dest="_encoder", type=Path, metavar="ENCODER", help=text)
    p.pairs.append(("encoder", "_encoder", "ENCODER or --encoder ENCODER"))
    p.add_argument("-o", "--out", type=Path, required=True, metavar="DIR", help="folder to write")
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="an experiment's output folder (or an evaluation run folder): its results "
        "of this encoder go into the model card",
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty DIR")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from sensormoco.export import export_for_timm

    files = export_for_timm(args.encoder, args.out, args.report, args.force)
    print(f"wrote {args.out}: " + ", ".join(str(f.relative_to(args.out)) for f in files))
    return 0
