"""The model card (README.md) of an exported encoder, with the results of a report folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sensormoco.data.sen12ms.layout import read_id_list
from sensormoco.errors import DataError
from sensormoco.export.metadata import EncoderMetadata, sensor_of

MODES: dict[str, str] = {
    "augment": "two augmentations of one input",
    "sensor-pairs": "the S2 and the S1 patch of one location are a positive pair",
    "sensor-pairs-augment": "sensor pairs, each view also augmented",
    "fusion-all": "two augmentations of the 12-channel S2+S1 stack",
    "fusion-partial": "S1-only, S2-only or S1+S2 items in equal shares, two augmentations each",
    "fusion-optional": "each view independently S1-only, S2-only or S1+S2 of one location",
}
SUMMARY_KEYS = (
    "patches",
    "excluded_test_patches",
    "steps",
    "epochs",
    "global_batch",
    "seed",
    "recent_loss",
    "recent_pos_acc",
    "world_size",
)


def title(meta: EncoderMetadata) -> str:
    sensors = "+".join(s.upper() for s in meta.sensors)
    return f"sensormoco {meta.backbone} ({meta.mode or 'MoCo-v2'}, {sensors}, {meta.adapter})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(path, f"cannot read ({exc})") from exc
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object")
    return data


def _run_row(name: str, result: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The settings and the metric cells (mean ± std over seeds) of one evaluation run."""
    seeds = ", ".join(str(s) for s in result.get("seeds", []))
    settings = [
        name,
        str(result.get("dataset", "sen12ms")),
        str(result.get("protocol")),
        str(result.get("input")),
        str(result.get("budget")),
        seeds,
    ]
    cells = {
        metric: "n/a" if v.get("mean") is None else f"{v['mean']:.3f} ± {v.get('std') or 0:.3f}"
        for metric, v in result.get("aggregate", {}).items()
    }
    for measure, value in (result.get("retrieval") or {}).items():
        cells[measure] = "n/a" if value is None else f"{value:.3f}"
    return settings, cells


def _same_file(recorded: Any, encoder_path: Path, base: Path) -> bool:
    if not isinstance(recorded, str):
        return False
    candidates = [Path(recorded), base / recorded]
    return any(c.is_file() and c.samefile(encoder_path) for c in candidates)


def report_section(report: Path, encoder_path: Path) -> list[str]:
    """Markdown lines: the evaluation runs of ``encoder_path`` under ``report`` (an experiment's
    output folder or one evaluation run folder) and, for an experiment, its study table."""
    runs: list[tuple[str, dict[str, Any]]] = []
    study: str | None = None
    if (report / "metrics.json").is_file():  # one `sensormoco evaluate` run
        result = _read_json(report / "metrics.json")
        if not _same_file(result.get("encoder"), encoder_path, report.parent):
            raise DataError(
                report, f"its metrics.json evaluates {result.get('encoder')}, not {encoder_path}"
            )
        runs.append((report.name, result))
    elif (report / "table.md").is_file() or (report / "experiment.yaml").is_file():
        run = encoder_path.resolve().parent
        if run.parent != (report / "pretrain").resolve():
            raise DataError(
                report,
                f"{encoder_path} is not one of this experiment's pre-training "
                "runs (pretrain/<run>/encoder.pt)",
            )
        for path in sorted((report / "eval").glob(f"{run.name}__*/metrics.json")):
            runs.append((path.parent.name, _read_json(path)))
        if (report / "table.md").is_file():
            study = (report / "table.md").read_text(encoding="utf-8").strip()
    else:
        raise DataError(
            report,
            "neither an experiment's output (table.md, experiment.yaml) "
            "nor an evaluation run (metrics.json)",
        )
    lines = ["## Results", ""]
    if runs:
        rows = [_run_row(name, result) for name, result in runs]
        metrics = list(dict.fromkeys(m for _, cells in rows for m in cells))
        header = ["run", "dataset", "protocol", "input", "budget", "seeds", *metrics]
        lines += [f"Test metrics of this encoder (mean ± std over seeds), from `{report}`:", ""]
        lines += _table(header, [s + [c.get(m, "") for m in metrics] for s, c in rows])
        lines.append("")
    if study is not None:
        lines += [
            "The experiment's study table (test main metric, mean ± std over seeds; "
            "other runs and baselines included for comparison):",
            "",
            study,
            "",
        ]
    if not runs and study is None:
        lines += [f"`{report}` holds no evaluation of this encoder yet.", ""]
    return lines


def _ids(subset: Any) -> str:
    """Where the pre-training patch ids came from (and how many, when the list is at hand)."""
    if not subset:
        return "every non-test patch of the data"
    path = Path(str(subset))
    if not path.is_file():
        return f"the list `{subset}` (not found at export time)"
    return f"the {len(read_id_list(path))} patches of the list `{path.name}`"


def _usage(meta: EncoderMetadata, config: dict[str, Any], adapter_function: str) -> list[str]:
    arch, chans = config["architecture"], config["model_args"]["in_chans"]
    lines = [
        "## Use",
        "",
        "With timm alone (this folder, or its Hugging Face copy as `hf-hub:<user>/<repo>`):",
        "",
        "```python",
        "import timm",
        "",
        'model = timm.create_model("local-dir:PATH/TO/THIS/FOLDER", pretrained=True)',
        "# or, naming the architecture:",
        f'model = timm.create_model("{arch}", pretrained=True, num_classes=0, '
        f"in_chans={chans}, pretrained_cfg_overlay={{",
        '    "file": "PATH/TO/THIS/FOLDER/model.safetensors", '
        f'"input_size": {tuple(config["pretrained_cfg"]["input_size"])}}})',
        f"features = model(x)  # N x {chans} x H x W -> N x {config['num_features']}",
        "```",
        "",
    ]
    if config.get("adapter"):
        lines += [
            "The backbone takes the 3 channels of the `1x1` input adapter, whose weights "
            "are `adapter.safetensors`. Apply it to the standardised bands first:",
            "",
            "```python",
            adapter_function.rstrip(),
            "",
            "",
            "from safetensors.torch import load_file",
            "",
            'features = model(apply_adapter(x, load_file("adapter.safetensors")))',
            "```",
            "",
        ]
    lines += [
        "sensormoco builds the input from raw arrays (`config.json` is all it needs):",
        "",
        "```python",
        "import sensormoco",
        "",
        'prepare = sensormoco.Preprocessing.from_folder("PATH/TO/THIS/FOLDER")',
        'x = prepare({"s1": s1_db, "s2": s2_reflectance})  # C x H x W or N x C x H x W',
        "```",
        "",
    ]
    return lines


def render(
    encoder_path: Path,
    meta: EncoderMetadata,
    config: dict[str, Any],
    adapter_function: str,
    report: Path | None,
    sensor: str | None = None,
) -> str:
    """README.md of the exported folder (of the ``sensor`` network of per-sensor encoders)."""
    norm = meta.require_normalization()
    rules = config["preprocessing"]
    tags = [
        "image-feature-extraction",
        "timm",
        "sensormoco",
        "moco",
        "self-supervised",
        *(f"sentinel-{s[1]}" for s in meta.sensors),
    ]
    version = meta.version or "version unknown"
    lines = [
        "---",
        "library_name: timm",
        "tags:",
        *(f"- {t}" for t in tags),
        "---",
        "",
        f"# {title(meta)}",
        "",
        f"A {meta.backbone} backbone pre-trained with MoCo-v2 (sensormoco {version}) "
        f"in mode `{meta.mode}`: {MODES.get(meta.mode or '', 'see its config')}. Input "
        f"adapter `{meta.adapter}`; exported from "
        f"`{encoder_path.parent.name}/{encoder_path.name}`.",
        "",
    ]
    if sensor is not None:
        lines += [
            f"This is the {sensor.upper()} network of a pair of per-sensor encoders "
            "(`encoder: per-sensor`); `../README.md` says how to combine it with the other.",
            "",
        ]
    lines += [
        "## Input",
        "",
        f"{len(meta.bands)} channels, in this order (mean and std of the standardisation, "
        "after the clip; full precision in config.json):",
        "",
    ]
    lines += _table(
        ["channel", "band", "sensor", "mean", "std"],
        [
            [str(i), b, sensor_of(b), f"{m:.6g}", f"{s:.6g}"]
            for i, (b, m, s) in enumerate(zip(norm.bands, norm.mean, norm.std, strict=True))
        ],
    )
    lines += ["", "Preprocessing, per sensor:", ""]
    for sensor, rule in rules["sensors"].items():
        low, high = rule["clip"]
        lines.append(
            f"- {sensor.upper()}: {rule['units']}; non-finite values: NaN -> 0, +-inf "
            f"-> the bounds; clip to [{low:g}, {high:g}]; then (x - mean) / std."
        )
    lines += [f"- A sensor that is missing: {rules['missing_sensor']}.", ""]
    lines += _usage(meta, config, adapter_function)
    summary_path = encoder_path.parent / "summary.json"
    summary = _read_json(summary_path) if summary_path.is_file() else {}
    lines += [
        "## Training data",
        "",
        "SEN12MS (Schmitt et al. 2019) S1/S2 pairs; the official hold-out test scenes "
        "never enter pre-training.",
        f"Patch ids: {_ids(meta.config.get('subset'))}.",
        "",
    ]
    if summary:
        found = [
            [k, f"{v:.4g}" if isinstance(v, float) else str(v)]
            for k in SUMMARY_KEYS
            if (v := summary.get(k)) is not None
        ]
        lines += [*_table(["from summary.json", "value"], found), ""]
    lines += ["## Settings", ""]
    lines += _table(["setting", "value"], [[k, f"`{v}`"] for k, v in meta.config.items()])
    lines.append("")
    if report is not None:
        lines += report_section(report, encoder_path)
    return "\n".join(lines)
