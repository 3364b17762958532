"""Raw S1 dB / S2 reflectance arrays -> an encoder's input, built from its metadata.

The same steps as the training data (data/sen12ms/layout.py, data/bands.py): S1 NaN -> 0 and
clip to [-25, 0] dB, S2 clip to [0, 10000], per-band standardisation, the encoder's channel
order, and zeros for a sensor the caller does not give.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import torch
from torch import Tensor

from sensormoco.data.bands import SENSOR_BANDS, Normalization, resolve_bands
from sensormoco.data.sen12ms.layout import clean_s1_, clip_s2_
from sensormoco.errors import DataError
from sensormoco.export.metadata import INPUT_CLIP, EncoderMetadata, sensor_of

Array: TypeAlias = np.ndarray | Tensor


def _channels(x: Array, index: list[int]) -> np.ndarray:
    """A float32 copy of the channels ``index`` of ``x`` (numpy or torch on any device)."""
    data = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    picked: np.ndarray = data[..., index, :, :]  # [N x] C_s x H x W, a copy
    return picked.astype(np.float32, copy=False)


def _clean_(sensor: str, x: np.ndarray) -> np.ndarray:
    """The sensor's value rule, in place on float32."""
    if sensor == "s1":
        return clean_s1_(x)
    low, high = INPUT_CLIP["s2"]
    np.nan_to_num(x, copy=False, nan=0.0, posinf=high, neginf=low)  # never in SEN12MS (uint16)
    return clip_s2_(x)


@dataclass(frozen=True)
class Preprocessing:
    """Turns ``{"s1": dB, "s2": reflectance x 1e4}`` arrays (C x H x W or N x C x H x W, numpy
    or torch) into the encoder's float32 input ``[N x] len(bands) x H x W``."""

    bands: tuple[str, ...]
    normalization: Normalization  # of ``bands``, in that order

    @classmethod
    def from_metadata(cls, metadata: EncoderMetadata) -> Preprocessing:
        return cls(metadata.bands, metadata.require_normalization().select(metadata.bands))

    @classmethod
    def from_folder(cls, folder: str | Path) -> Preprocessing:
        """From the ``config.json`` of an exported folder (``sensormoco export``)."""
        path = Path(folder) / "config.json"
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
            bands = tuple(str(b) for b in config["bands"])
            stats = {
                band: {"mean": rule["mean"][i], "std": rule["std"][i]}
                for rule in config["preprocessing"]["sensors"].values()
                for i, band in enumerate(rule["bands"])
            }
        except (OSError, json.JSONDecodeError, KeyError, TypeError, IndexError) as exc:
            raise DataError(path, f"not the config.json of an exported encoder ({exc})") from exc
        missing = [b for b in bands if b not in stats]
        if missing:
            raise DataError(path, f"no mean and std for band(s) {missing}")
        return cls(bands, Normalization.from_dict(stats, str(path)).select(bands))

    def sensor_bands(self, sensor: str) -> tuple[str, ...]:
        return tuple(b for b in self.bands if sensor_of(b) == sensor)

    def _channel_names(self, sensor: str, channels: int, given: Sequence[str] | str | None
                       ) -> tuple[str, ...]:  # fmt: skip
        """The band names of the caller's ``channels`` channels of ``sensor``."""
        if given is not None:
            names = resolve_bands(sensor, given)
        elif channels == len(SENSOR_BANDS[sensor]):
            names = SENSOR_BANDS[sensor]  # the sensor's full band list, as in its GeoTIFF
        elif channels == len(self.sensor_bands(sensor)):
            names = self.sensor_bands(sensor)  # exactly the encoder's bands, in its order
        else:
            raise ValueError(
                f"{sensor} array has {channels} channels: pass bands={{'{sensor}': [...]}} "
                f"naming them (the encoder takes {list(self.sensor_bands(sensor))})"
            )
        if len(names) != channels:
            raise ValueError(f"{sensor} array has {channels} channels but {len(names)} band "
                             f"names were given ({list(names)})")  # fmt: skip
        return names

    def __call__(
        self,
        arrays: Mapping[str, Array | None],
        bands: Mapping[str, Sequence[str] | str] | None = None,
    ) -> Tensor:
        """The encoder input for ``arrays`` (sensor -> raw array; a sensor left out or ``None``
        is zeros); ``bands`` names the channels of a sensor's array when they are not the
        sensor's full band list or exactly the encoder's bands of it."""
        bands = dict(bands or {})
        unknown = sorted(set(arrays) - set(SENSOR_BANDS))
        if unknown:
            raise ValueError(f"unknown sensor(s) {unknown}; give 's1' and/or 's2' arrays")
        present = {s: x for s, x in arrays.items() if x is not None}
        unused = [s for s in present if not self.sensor_bands(s)]
        if unused:
            raise ValueError(f"the encoder takes no {unused[0]} bands (its bands: "
                             f"{list(self.bands)})")  # fmt: skip
        if not present:
            raise ValueError("give at least one of the encoder's sensors: "
                             f"{sorted({sensor_of(b) for b in self.bands})}")  # fmt: skip
        shapes = {s: tuple(x.shape) for s, x in present.items()}
        first = next(iter(shapes.values()))
        if any(len(v) not in (3, 4) for v in shapes.values()) or any(
            len(v) != len(first) or v[:-3] + v[-2:] != first[:-3] + first[-2:]
            for v in shapes.values()
        ):
            raise ValueError(f"arrays must be C x H x W or N x C x H x W of one size, got {shapes}")
        lead, size = first[:-3], first[-2:]
        out = np.zeros((*lead, len(self.bands), *size), dtype=np.float32)  # [N x] C x H x W
        for sensor, x in present.items():
            names = self._channel_names(sensor, x.shape[-3], bands.get(sensor))
            wanted = self.sensor_bands(sensor)
            lacking = [b for b in wanted if b not in names]
            if lacking:
                raise ValueError(f"{sensor} array lacks band(s) {lacking} (it has {list(names)})")
            data = _channels(x, [names.index(b) for b in wanted])  # [N x] C_s x H x W
            self.normalization.select(wanted).apply_(_clean_(sensor, data))
            out[..., [self.bands.index(b) for b in wanted], :, :] = data
        device = next((x.device for x in present.values() if isinstance(x, Tensor)), None)
        result = torch.from_numpy(out)
        return result if device is None else result.to(device)
