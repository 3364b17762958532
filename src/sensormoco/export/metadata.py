"""What an encoder file says about itself, as a typed record (DESIGN §5: checkpoints and
exported encoders carry their bands, normalisation and config)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sensormoco import defaults
from sensormoco.data.bands import SENSOR_BANDS, Normalization
from sensormoco.errors import DataError

# The input every sensormoco encoder expects before standardisation (DESIGN §2, SEN12MS).
INPUT_UNITS: dict[str, str] = {
    "s1": "Sentinel-1 sigma-nought backscatter in dB",
    "s2": "Sentinel-2 reflectance x 10000 (digital numbers as distributed)",
}
INPUT_CLIP: dict[str, tuple[float, float]] = {"s1": defaults.S1_CLIP_DB, "s2": defaults.S2_CLIP}
MISSING_SENSOR = "zeros after standardisation (the band mean)"
SENSOR_ORDER: tuple[str, ...] = ("s2", "s1")  # as in the fusion layout


def sensor_of(band: str) -> str:
    """The sensor (``s1`` or ``s2``) whose band ``band`` is."""
    for sensor, names in SENSOR_BANDS.items():
        if band in names:
            return sensor
    raise ValueError(f"unknown band {band!r}")


@dataclass(frozen=True)
class EncoderMetadata:
    """An encoder's structure, input bands (in channel order) and the normalisation it was
    trained with; ``config`` is the pre-training config, ``source`` the file it came from."""

    backbone: str
    adapter: str
    adapter_trainable: bool
    bands: tuple[str, ...]
    dim: int
    in_chans: int  # channels the backbone takes (3 behind a 1x1 adapter)
    normalization: Normalization | None = None
    mode: str | None = None
    input: str | None = None
    version: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def from_dict(cls, meta: Mapping[str, Any], source: str | Path = "") -> EncoderMetadata:
        """From the ``metadata`` of an encoder file (training/checkpoint.py)."""
        saved = meta.get("normalization")
        norm = Normalization.from_dict(dict(saved), str(source)) if saved else None
        bands = tuple(str(b) for b in meta["bands"])
        if norm is not None:
            missing = [b for b in bands if b not in norm.bands]
            if missing:
                raise DataError(source, f"encoder normalisation lacks band(s) {missing}")
            norm = norm.select(bands)
        config = meta.get("config")
        return cls(
            backbone=str(meta["backbone"]), adapter=str(meta["adapter"]),
            adapter_trainable=bool(meta["adapter_trainable"]), bands=bands, dim=int(meta["dim"]),
            in_chans=int(meta["in_chans"]), normalization=norm, mode=meta.get("mode"),
            input=meta.get("input"), version=meta.get("version"),
            config=dict(config) if isinstance(config, Mapping) else {}, source=str(source),
        )  # fmt: skip

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors the encoder takes bands of, S2 first."""
        present = {sensor_of(b) for b in self.bands}
        return tuple(s for s in SENSOR_ORDER if s in present)

    def sensor_bands(self, sensor: str) -> tuple[str, ...]:
        """The encoder's bands of ``sensor``, in channel order (empty if it takes none)."""
        return tuple(b for b in self.bands if sensor_of(b) == sensor)

    def require_normalization(self) -> Normalization:
        """The normalisation, or a one-line error naming the file when it was not recorded."""
        if self.normalization is None:
            raise DataError(self.source or "encoder", "no normalisation recorded in the encoder "
                            "file; its input cannot be described")  # fmt: skip
        return self.normalization

    def preprocessing_dict(self) -> dict[str, Any]:
        """The input rules per sensor, as plain data (config.json, the model card)."""
        norm = self.require_normalization()
        sensors: dict[str, Any] = {}
        for sensor in self.sensors:
            names = self.sensor_bands(sensor)
            stats = norm.select(names)
            sensors[sensor] = {
                "bands": list(names), "units": INPUT_UNITS[sensor],
                "non_finite": "NaN -> 0, +-inf -> the clip bounds",
                "clip": list(INPUT_CLIP[sensor]),
                "mean": list(stats.mean), "std": list(stats.std),
            }  # fmt: skip
        return {
            "order": "per sensor: non-finite values replaced, clip, (x - mean) / std per band; "
                     "then channels in the order of `bands`",
            "sensors": sensors, "missing_sensor": MISSING_SENSOR,
        }  # fmt: skip
