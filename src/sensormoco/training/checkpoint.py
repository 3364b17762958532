"""The exported encoder file (training checkpoints: :mod:`sensormoco.training.training_checkpoint`).

- The exported encoder is the query encoder alone, a file that ``torch.load(weights_only=True)``
  reads: ``{"format", "metadata", "encoder", "head"}`` where ``encoder`` is the state dict of
  adapter + backbone (keys ``adapter.*``, ``backbone.model.*``), ``head`` the projection head's,
  and ``metadata`` plain values (backbone, adapter, bands, normalisation, mode, config, version).
  Loading checks the file is complete and, when asked, that its bands match.
- Per-sensor encoders (``encoder: per-sensor``) are exported as one file of format
  :data:`PAIRED_FORMAT`: ``{"format", "metadata", "encoders": {"s1": ..., "s2": ...}}``, each
  entry an encoder file's payload (its bands and normalisation its sensor's);
  :func:`load_paired_encoders` reads it (for transfer see
  :class:`~sensormoco.models.per_sensor.PairedFeatures`), :func:`is_paired` tells it apart;
  :func:`load_encoder` refuses it with a one-line error naming the function that reads it.
- Every reader takes the file's path or the file read once for a whole run
  (:class:`~sensormoco.training.encoder_file.EncoderFile`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from sensormoco.atomic import atomic_path
from sensormoco.data.bands import Normalization
from sensormoco.errors import DataError
from sensormoco.models.moco import Encoder, MoCo, build_encoder
from sensormoco.models.per_sensor import SENSORS, PerSensorMoCo
from sensormoco.training.encoder_file import EncoderSource, contents

FORMAT = "sensormoco-encoder/1"
PAIRED_FORMAT = "sensormoco-per-sensor-encoders/1"
BACKBONE_PREFIX = "backbone.model."
REQUIRED_METADATA = ("backbone", "adapter", "adapter_trainable", "bands", "dim", "in_chans")
NORMALIZATION_TOLERANCE = 1e-6  # relative, on mean and std


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain str/int/float/bool/None, lists and str-keyed dicts of them."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Sequence):
        return [_plain(v, where) for v in value]
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"metadata {where} must be plain data, got {type(value).__name__}")


def export_encoder(
    moco_or_encoder: MoCo | PerSensorMoCo | Encoder, path: str | Path, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """Write the query encoder (both, for per-sensor encoders) to ``path`` atomically;
    ``metadata`` (normalisation, mode, config, version...) is stored with the encoder's own
    structure. Returns the metadata."""
    if isinstance(moco_or_encoder, PerSensorMoCo):
        return _export_paired(moco_or_encoder, path, metadata)
    payload = _payload(
        moco_or_encoder.encoder_q if isinstance(moco_or_encoder, MoCo) else moco_or_encoder,
        metadata,
    )
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    meta: dict[str, Any] = payload["metadata"]
    return meta


def _export_paired(
    model: PerSensorMoCo, path: str | Path, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    normalization = Normalization.from_dict(dict(metadata["normalization"]), str(path))
    parts = {}
    for sensor in SENSORS:
        encoder = model.moco(sensor).encoder_q
        own = dict(metadata) | {"normalization": normalization.select(encoder.bands).to_dict()}
        parts[sensor] = _payload(encoder, own)
    meta: dict[str, Any] = _plain(dict(metadata), "metadata") | {"encoder": "per-sensor"}
    with atomic_path(path) as tmp:
        torch.save({"format": PAIRED_FORMAT, "metadata": meta, "encoders": parts}, tmp)
    return meta


def _payload(encoder: Encoder, metadata: Mapping[str, Any]) -> dict[str, Any]:
    """An encoder file's content: format, metadata, encoder and head state dicts."""
    meta: dict[str, Any] = _plain(dict(metadata), "metadata") | {
        "backbone": encoder.backbone.name,
        "adapter": encoder.adapter.kind,
        "adapter_trainable": bool(getattr(encoder.adapter, "trainable", True)),
        "bands": list(encoder.bands),
        "dim": encoder.out_dim,
        "in_chans": encoder.backbone.in_chans,
    }
    state = {k: v.detach().cpu().clone() for k, v in encoder.state_dict().items()}
    payload = {
        "format": FORMAT,
        "metadata": meta,
        "encoder": {k: v for k, v in state.items() if not k.startswith("head.")},
        "head": {k.removeprefix("head."): v for k, v in state.items() if k.startswith("head.")},
    }
    return payload


def _read(path: str | Path, payload: Any) -> dict[str, Any]:
    """The checked payload of the encoder file ``path``, or a one-line DataError."""
    if isinstance(payload, dict) and payload.get("format") == PAIRED_FORMAT:
        raise DataError(
            path,
            "holds per-sensor encoders (encoder: per-sensor), not one encoder; "
            "read it with sensormoco.load_paired_encoders",
            "per-sensor",
        )
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise DataError(path, f"not a sensormoco encoder file (expected format {FORMAT})")
    return _checked(path, payload)


def _read_paired(path: str | Path, payload: Any) -> dict[str, Any]:
    """The payload of a per-sensor encoder file (its parts checked), or a one-line DataError."""
    paired = isinstance(payload, dict) and payload.get("format") == PAIRED_FORMAT
    parts = payload.get("encoders") if paired else None
    if not isinstance(parts, dict) or set(parts) != set(SENSORS):
        raise DataError(path, f"not a per-sensor encoder file (expected format {PAIRED_FORMAT})")
    for sensor in SENSORS:
        _checked(f"{path} [{sensor}]", parts[sensor])
    if not isinstance(payload.get("metadata"), dict):
        raise DataError(path, "incomplete per-sensor encoder file: missing ['metadata']")
    return dict(payload)


def is_paired(source: EncoderSource) -> bool:
    """Whether ``source`` is a per-sensor encoder file (format :data:`PAIRED_FORMAT`); a
    missing or unreadable file is a DataError."""
    payload = contents(source)[1]
    return isinstance(payload, dict) and payload.get("format") == PAIRED_FORMAT


def _checked(path: str | Path, payload: dict[str, Any]) -> dict[str, Any]:
    meta = payload.get("metadata")
    missing = [k for k in REQUIRED_METADATA if not isinstance(meta, dict) or k not in meta]
    if missing or not isinstance(payload.get("encoder"), dict):
        raise DataError(path, f"incomplete encoder file: missing {missing or ['encoder']}")
    return payload


def encoder_metadata(source: EncoderSource) -> dict[str, Any]:
    """The metadata of an exported encoder file (backbone, adapter, bands, ...), checked. For a
    per-sensor file: its own metadata (``encoder: per-sensor``, all bands) with the structure
    its two networks share (backbone, adapter, dim) and ``sensors``: each network's bands."""
    path, payload = contents(source)
    if isinstance(payload, dict) and payload.get("format") == PAIRED_FORMAT:
        paired = _read_paired(path, payload)
        parts = {s: paired["encoders"][s]["metadata"] for s in SENSORS}
        shared = {k: parts["s2"][k] for k in ("backbone", "adapter", "adapter_trainable", "dim")}
        sensors = {s: list(parts[s]["bands"]) for s in SENSORS}
        paired_meta: dict[str, Any] = dict(paired["metadata"]) | shared | {"sensors": sensors}
        return paired_meta
    meta: dict[str, Any] = _read(path, payload)["metadata"]
    return meta


def check_bands(path: str | Path, bands: Sequence[str], expected: Sequence[str]) -> None:
    """Refuse an encoder whose bands (names and order) are not ``expected``."""
    if list(bands) != list(expected):
        raise DataError(
            path,
            f"encoder bands {list(bands)} do not match the expected bands {list(expected)}",
            "bands",
        )


def check_normalization(
    path: str | Path, saved: Mapping[str, Any], expected: Normalization
) -> None:
    """Refuse an encoder trained with other per-band statistics than ``expected``."""
    theirs = Normalization.from_dict(dict(saved), str(path))
    ours = expected.select(theirs.bands) if set(theirs.bands) <= set(expected.bands) else None
    close = ours is not None and all(
        abs(a - b) <= NORMALIZATION_TOLERANCE * max(abs(a), abs(b), 1.0)
        for a, b in zip(theirs.mean + theirs.std, ours.mean + ours.std, strict=True)
    )
    if not close:
        raise DataError(
            path,
            f"encoder normalisation differs from the expected one (bands {list(theirs.bands)})",
            "normalization",
        )


def load_encoder(
    source: EncoderSource,
    expected_bands: Sequence[str] | None = None,
    expected_normalization: Normalization | None = None,
) -> tuple[Encoder, dict[str, Any]]:
    """The exported encoder (with its head) and its metadata; refuses an incomplete file, and
    bands (or normalisation) other than the expected ones when these are given."""
    path, payload = contents(source)
    return _build(path, _read(path, payload), expected_bands, expected_normalization)


def paired_part_metadata(source: EncoderSource) -> dict[str, dict[str, Any]]:
    """Each network's metadata in a per-sensor file (its bands, normalisation, structure)."""
    parts = _read_paired(*contents(source))["encoders"]
    return {s: dict(parts[s]["metadata"]) for s in SENSORS}


def load_paired_encoders(
    source: EncoderSource, expected_normalization: Normalization | None = None
) -> tuple[dict[str, Encoder], dict[str, Any]]:
    """The S1 and S2 encoders of a per-sensor file (with their heads) and its metadata; each
    network's normalisation must equal ``expected_normalization`` (on its bands) when given."""
    path, payload = contents(source)
    payload = _read_paired(path, payload)
    encoders = {
        s: _build(path, payload["encoders"][s], None, expected_normalization)[0] for s in SENSORS
    }
    meta: dict[str, Any] = payload["metadata"]
    return encoders, meta


def _build(
    path: str | Path,
    payload: dict[str, Any],
    expected_bands: Sequence[str] | None,
    expected_normalization: Normalization | None,
) -> tuple[Encoder, dict[str, Any]]:
    meta: dict[str, Any] = payload["metadata"]
    if expected_bands is not None:
        check_bands(path, meta["bands"], expected_bands)
    if expected_normalization is not None:
        check_normalization(path, meta.get("normalization") or {}, expected_normalization)
    encoder = build_encoder(
        meta["bands"], meta["backbone"], meta["adapter"], meta["dim"], meta["adapter_trainable"]
    )
    state = dict(payload["encoder"]) | {f"head.{k}": v for k, v in payload.get("head", {}).items()}
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise DataError(
            path,
            f"encoder weights do not fit {meta['backbone']}/{meta['adapter']}: "
            f"{len(missing)} missing, {len(unexpected)} unexpected "
            f"(e.g. {(missing + unexpected)[0]})",
        )
    return encoder, meta


def backbone_state_for_timm(source: EncoderSource, sensor: str | None = None) -> dict[str, Tensor]:
    """The backbone weights of an exported encoder (of the ``sensor`` network of a per-sensor
    file), keyed for ``timm.create_model(backbone, num_classes=0, in_chans=...)``."""
    if sensor is None:
        payload = _read(*contents(source))
    elif sensor in SENSORS:
        payload = _read_paired(*contents(source))["encoders"][sensor]
    else:
        raise ValueError(f"unknown sensor {sensor!r}; choose one of {list(SENSORS)}")
    return {
        k.removeprefix(BACKBONE_PREFIX): v
        for k, v in payload["encoder"].items()
        if k.startswith(BACKBONE_PREFIX)
    }
