"""``sensormoco export``: an encoder file -> a folder a timm / Hugging Face user recognises.

``DIR/model.safetensors`` (the backbone, timm key names), ``DIR/config.json`` (timm's
convention: ``architecture``, ``num_features``, ``num_classes: 0``, ``model_args``,
``pretrained_cfg``; plus the bands and input rules), ``DIR/README.md`` (the model card) and,
for the ``1x1`` adapter, ``DIR/adapter.safetensors`` (applied by :data:`ADAPTER_FUNCTION`).

timm's folder loader builds its ``PretrainedCfg`` from ``pretrained_cfg`` and refuses keys it
does not know, so the bands by name and the per-sensor input rules sit beside it at the top
level (``in_chans``, ``bands``, ``preprocessing``, ``adapter``, ``sensormoco``); inside it they
are in timm's own fields: ``input_size[0]`` is ``in_chans``, ``mean``/``std`` follow ``bands``,
``notes`` spell the rules out. ``in_chans`` is always the backbone's: behind a 1x1 adapter it
is 3, and ``adapter.in_channels`` is the number of bands.

Per-sensor encoders (``encoder: per-sensor``, an S1 and an S2 network) export one such folder
per sensor, ``DIR/s1`` and ``DIR/s2``, plus ``DIR/README.md`` on how to combine them (the rule
``evaluate`` uses: export/paired.py).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import Tensor, nn

from sensormoco.atomic import atomic_path, atomic_write_text
from sensormoco.data.bands import FUSION_BANDS
from sensormoco.errors import DataError
from sensormoco.export import model_card
from sensormoco.export.metadata import SENSOR_ORDER
from sensormoco.export.paired import combine_note, load_paired_encoders
from sensormoco.export.pretrained import PretrainedEncoder, load_encoder
from sensormoco.models.adapters import OneByOneAdapter
from sensormoco.models.per_sensor import SENSORS
from sensormoco.training.checkpoint import backbone_state_for_timm, is_paired

WEIGHTS = "model.safetensors"
ADAPTER_WEIGHTS = "adapter.safetensors"
CONFIG = "config.json"
CARD = "README.md"
DEFAULT_INPUT_SIZE = 256  # SEN12MS patches; used when the config records no crop size

# The 1x1 adapter as plain torch: the same operations as models/adapters.OneByOneAdapter in
# eval mode. Written into the model card and docs/api.md; the tests execute it.
ADAPTER_FUNCTION = '''\
import torch
import torch.nn.functional as F


def apply_adapter(x, weights, eps=1e-5):
    """The 1x1 input adapter: N x len(bands) x H x W standardised bands -> N x 3 x H x W.
    ``weights``: safetensors.torch.load_file("adapter.safetensors")."""
    out = torch.zeros(x.shape[0], 3, *x.shape[2:], dtype=x.dtype, device=x.device)
    count = torch.zeros(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)
    for sensor in ("s2", "s1"):  # a sensor absent from the bands has no weights
        w = {k[len(sensor) + 1 :]: v for k, v in weights.items() if k.startswith(sensor + ".")}
        if w:
            part = x.index_select(1, w["index"])
            # a sensor is absent from a row when all its values are exactly zero
            present = part.ne(0).flatten(1).any(dim=1).to(x.dtype).view(-1, 1, 1, 1)
            y = F.conv2d(part, w["conv.weight"])
            y = F.batch_norm(
                y,
                w["bn.running_mean"],
                w["bn.running_var"],
                w["bn.weight"],
                w["bn.bias"],
                training=False,
                eps=eps,
            )
            out = out + F.relu(y) * present
            count = count + present
    return out / count.clamp(min=1)  # the mean over the present sensors
'''


def _projection(adapter: OneByOneAdapter, sensor: str) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """The 1x1 convolution and the batch norm of ``sensor``'s projection."""
    conv, bn, *_ = adapter.projections[sensor].children()
    assert isinstance(conv, nn.Conv2d)
    assert isinstance(bn, nn.BatchNorm2d)
    return conv, bn


def adapter_state(adapter: OneByOneAdapter) -> dict[str, Tensor]:
    """The 1x1 adapter's weights under the names :data:`ADAPTER_FUNCTION` reads."""
    state: dict[str, Tensor] = {}
    for sensor in SENSOR_ORDER:
        if sensor not in adapter.projections:
            continue
        conv, bn = _projection(adapter, sensor)
        assert bn.running_mean is not None
        assert bn.running_var is not None
        state |= {
            f"{sensor}.index": adapter.get_buffer(f"index_{sensor}"),
            f"{sensor}.conv.weight": conv.weight,
            f"{sensor}.bn.weight": bn.weight,
            f"{sensor}.bn.bias": bn.bias,
            f"{sensor}.bn.running_mean": bn.running_mean,
            f"{sensor}.bn.running_var": bn.running_var,
        }
    return {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}


def timm_config(encoder: PretrainedEncoder) -> dict[str, Any]:
    """config.json: timm's fields, then the bands and input rules (see the module doc)."""
    meta = encoder.metadata
    norm = meta.require_normalization()
    module = encoder.encoder.adapter
    one_by_one = isinstance(module, OneByOneAdapter)
    size = int(meta.config.get("crop_size") or DEFAULT_INPUT_SIZE)
    rules = meta.preprocessing_dict()
    notes = (
        [f"input bands in channel order: {', '.join(meta.bands)}"]
        + [
            f"{s}: {r['units']}; NaN -> 0, clip to [{r['clip'][0]:g}, {r['clip'][1]:g}], then "
            "(x - mean) / std"
            for s, r in rules["sensors"].items()
        ]
        + [f"a missing sensor: {rules['missing_sensor']}"]
    )
    if one_by_one:
        notes.append(
            f"the backbone takes the 3 channels of the 1x1 adapter ({ADAPTER_WEIGHTS}, "
            "apply_adapter in README.md) applied to the standardised bands"
        )
    pretrained_cfg: dict[str, Any] = {
        "input_size": [meta.in_chans, size, size],
        "fixed_input_size": False,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "crop_mode": "center",
        # timm standardises the backbone's input: behind the 1x1 adapter that is already done
        "mean": [0.0] * meta.in_chans if one_by_one else list(norm.mean),
        "std": [1.0] * meta.in_chans if one_by_one else list(norm.std),
        "num_classes": 0,
        "pool_size": None,
        "first_conv": "conv1",
        "classifier": "fc",
        "description": model_card.title(meta),
        "notes": notes,
    }
    adapter: dict[str, Any] | None = None
    if isinstance(module, OneByOneAdapter):
        bn = _projection(module, meta.sensors[0])[1]
        adapter = {
            "kind": "1x1",
            "file": ADAPTER_WEIGHTS,
            "bands": list(meta.bands),
            "in_channels": len(meta.bands),
            "out_channels": meta.in_chans,
            "bn_eps": bn.eps,
            "function": "apply_adapter (README.md)",
        }
    return {
        "architecture": meta.backbone,
        "num_classes": 0,
        "num_features": encoder.num_features,
        "global_pool": "avg",
        "model_args": {"in_chans": meta.in_chans},
        "pretrained_cfg": pretrained_cfg,
        "in_chans": meta.in_chans,
        "bands": list(meta.bands),
        "preprocessing": rules,
        "adapter": adapter,
        "sensormoco": {
            "backbone": meta.backbone,
            "adapter": meta.adapter,
            "adapter_trainable": meta.adapter_trainable,
            "dim": meta.dim,
            "mode": meta.mode,
            "input": meta.input,
            "version": meta.version,
            "config": dict(meta.config),
        },
    }


def write_folder(
    encoder_path: Path,
    encoder: PretrainedEncoder,
    folder: Path,
    report: Path | None,
    sensor: str | None = None,
) -> list[str]:
    """Write the files of one exported encoder (the ``sensor`` network of a per-sensor file)
    into ``folder``; returns their names."""
    meta = encoder.metadata
    if meta.adapter == "zero-pad" and meta.bands != FUSION_BANDS:
        raise DataError(
            encoder_path,
            "a zero-pad encoder exports only with the full fusion "
            f"bands {list(FUSION_BANDS)}, it takes {list(meta.bands)}",
        )
    config = timm_config(encoder)
    # contiguous: pre-training stores channels_last weights, safetensors takes row-major ones
    state = backbone_state_for_timm(encoder_path, sensor)
    backbone = {k: v.contiguous() for k, v in state.items()}
    with atomic_path(folder / WEIGHTS) as tmp:  # (atomic_path also gives the usual file mode)
        save_file(backbone, str(tmp), metadata={"format": "pt", "architecture": meta.backbone})
    files = [WEIGHTS]
    adapter = encoder.encoder.adapter
    if isinstance(adapter, OneByOneAdapter):
        with atomic_path(folder / ADAPTER_WEIGHTS) as tmp:
            save_file(adapter_state(adapter), str(tmp), metadata={"format": "pt", "adapter": "1x1"})
        files.append(ADAPTER_WEIGHTS)
    atomic_write_text(folder / CONFIG, json.dumps(config, indent=2) + "\n")
    card = model_card.render(encoder_path, meta, config, ADAPTER_FUNCTION, report, sensor)
    atomic_write_text(folder / CARD, card)
    return [*files, CONFIG, CARD]


def _clear_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(out, "exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise DataError(out, "exists and is not empty (pass --force to replace it)")


def export_for_timm(
    encoder_path: str | Path, out: str | Path, report: str | Path | None = None, force: bool = False
) -> list[Path]:
    """Export the encoder file ``encoder_path`` into the folder ``out`` (written as
    ``out.partial``, then renamed; an existing non-empty ``out`` only with ``force``).
    ``report``: an experiment's output folder or an evaluation run folder whose results of
    this encoder go into the model card. A per-sensor file gives ``out/s1``, ``out/s2`` and
    ``out/README.md`` (how to combine them). Returns the files written."""
    encoder_path, out = Path(encoder_path), Path(out)
    _clear_target(out, force)
    paired = is_paired(encoder_path)
    if paired:
        pair = load_paired_encoders(encoder_path)  # the file is read once, not per sensor
        encoders = {s: pair[s] for s in SENSORS}
    else:
        encoders = {"": load_encoder(encoder_path)}
    for encoder in encoders.values():
        encoder.metadata.require_normalization()
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # left by an interrupted export
    partial.mkdir(parents=True)
    try:
        names: list[str] = []
        for sensor, encoder in encoders.items():
            folder = partial / sensor if sensor else partial
            folder.mkdir(exist_ok=True)
            written = write_folder(
                encoder_path, encoder, folder, Path(report) if report else None, sensor or None
            )
            names += [f"{sensor}/{name}" if sensor else name for name in written]
        if paired:
            note = combine_note(
                {s: e.metadata for s, e in encoders.items()},
                {s: e.num_features for s, e in encoders.items()},
            )
            atomic_write_text(partial / CARD, note)
            names.append(CARD)
        if out.exists():
            old = out.with_name(out.name + ".replaced")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(partial, out)
            shutil.rmtree(old)
        else:
            os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return [out / name for name in names]
