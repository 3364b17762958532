"""Per-sensor encoders (``encoder: per-sensor``: an S1 and an S2 network) in the public API,
and the note of their export on how to combine them.

The combination rule is the one ``sensormoco evaluate`` uses
(:class:`~sensormoco.models.per_sensor.PairedFeatures`): each sensor's standardised bands go
through that sensor's own network, and the pooled features are **concatenated, S1 then S2**
(N x (F_S1 + F_S2)). One sensor alone uses its own network's features (N x F). For an s1s2
classifier with a sensor missing, that sensor's input is zeros (after standardisation, i.e.
its band means), as for every sensormoco encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sensormoco.data.bands import Normalization
from sensormoco.export.metadata import EncoderMetadata
from sensormoco.export.preprocess import Array
from sensormoco.export.pretrained import PretrainedEncoder
from sensormoco.models.per_sensor import SENSORS
from sensormoco.training import checkpoint


class PretrainedPair(nn.Module):
    """The S1 and S2 networks of a per-sensor encoder file: ``pair["s1"]``, ``pair["s2"]``
    are :class:`PretrainedEncoder` modules; ``pair(s1=x1, s2=x2)`` gives the combined
    features (S1 then S2 concatenated); ``metadata`` is the file's own (mode, config...)."""

    def __init__(self, encoders: Mapping[str, PretrainedEncoder], metadata: dict[str, Any]):
        super().__init__()
        self.encoders = nn.ModuleDict({s: encoders[s] for s in SENSORS})
        self.metadata = metadata

    def __getitem__(self, sensor: str) -> PretrainedEncoder:
        if sensor not in SENSORS:
            raise KeyError(f"unknown sensor {sensor!r}; choose one of {list(SENSORS)}")
        encoder = self.encoders[sensor]
        assert isinstance(encoder, PretrainedEncoder)
        return encoder

    @property
    def num_features(self) -> int:
        """Features of the combination: F_S1 + F_S2."""
        return sum(self[s].num_features for s in SENSORS)

    def preprocess(
        self,
        arrays: Mapping[str, Array | None],
        bands: Mapping[str, Sequence[str] | str] | None = None,
    ) -> dict[str, Tensor]:
        """Each network's input from raw arrays (``{"s1": dB, "s2": reflectance x 1e4}``, as
        :class:`~sensormoco.export.preprocess.Preprocessing` takes them); a sensor left out is
        zeros of its bands (the missing-sensor rule)."""
        given = {s: x for s, x in arrays.items() if x is not None}
        if not given:
            raise ValueError(f"give at least one of the sensors {list(SENSORS)}")
        names = dict(bands or {})
        out = {
            s: self[s].preprocess({s: x}, {s: names[s]} if s in names else None)
            for s, x in given.items()
        }
        like = next(iter(out.values()))  # [N x] C x H x W
        for sensor in SENSORS:
            if sensor not in out:
                shape = (*like.shape[:-3], len(self[sensor].bands), *like.shape[-2:])
                out[sensor] = like.new_zeros(shape)
        return out

    def forward(self, s1: Tensor, s2: Tensor) -> Tensor:
        """Combined features: N x 2 x H x W (S1) and N x 10 x H x W (S2) -> N x (F_S1 + F_S2)."""
        return torch.cat([self["s1"](s1), self["s2"](s2)], dim=1)


def load_paired_encoders(
    path: str | Path, normalization: Normalization | None = None
) -> PretrainedPair:
    """The per-sensor encoder file ``path`` (``encoder.pt`` of an ``encoder: per-sensor``
    pre-training) in eval mode; refuses networks whose normalisation differs from
    ``normalization`` (on their bands) when it is given."""
    encoders, meta = checkpoint.load_paired_encoders(path, normalization)
    parts = checkpoint.paired_part_metadata(path)
    pair = {
        s: PretrainedEncoder(encoders[s], EncoderMetadata.from_dict(parts[s], f"{path} [{s}]"))
        for s in SENSORS
    }
    return PretrainedPair(pair, meta).eval()


def combine_note(sensors: Mapping[str, EncoderMetadata], num_features: Mapping[str, int]) -> str:
    """README.md at the top of a per-sensor export: the folders and how to combine them."""
    s1, s2 = num_features["s1"], num_features["s2"]
    arch = sensors["s2"].backbone
    adapter = sensors["s2"].adapter
    lines = [
        "---",
        "library_name: timm",
        "tags:",
        "- image-feature-extraction",
        "- timm",
        "- sensormoco",
        "- sentinel-1",
        "- sentinel-2",
        "---",
        "",
        f"# sensormoco per-sensor encoders ({arch}, {sensors['s2'].mode or 'sensor-pairs'})",
        "",
        "Two networks pre-trained together with MoCo-v2 (`encoder: per-sensor`, as CMC and "
        "DeCUR): each saw only its own sensor, and an S1 patch's positive was the S2 patch "
        "of the same location seen by the other network. Each folder is a complete timm "
        "export (`model.safetensors`, `config.json`, `README.md` with its bands and "
        "normalisation):",
        "",
        "| folder | sensor | bands | features |",
        "|---|---|---|---|",
        f"| `s1/` | Sentinel-1 | {', '.join(sensors['s1'].bands)} | {s1} |",
        f"| `s2/` | Sentinel-2 | {', '.join(sensors['s2'].bands)} | {s2} |",
        "",
        "## How to combine them",
        "",
        "The rule sensormoco's own evaluation uses (`sensormoco evaluate --encoder` on the "
        "per-sensor file):",
        "",
        "- one sensor: that sensor's network alone (S1 -> `s1/`, S2 -> `s2/`);",
        f"- both sensors: each through its own network, the pooled features **concatenated, "
        f"S1 then S2** ({s1} + {s2} = {s1 + s2} features); a linear probe or kNN reads the "
        "concatenation, fine-tuning trains both networks and one head on it;",
        "- a missing sensor in a two-sensor model: its input is zeros after standardisation "
        "(its band means), so its network contributes a constant vector;",
        "- cross-modal retrieval: embed S1 patches with `s1/`, S2 patches with `s2/` "
        "(sensormoco compares the MoCo projections, which the export leaves out; backbone "
        "features of the two networks live in different spaces).",
        "",
        "```python",
        "import timm",
        "import torch",
        "",
        's1_net = timm.create_model("local-dir:PATH/TO/THIS/FOLDER/s1", pretrained=True).eval()',
        's2_net = timm.create_model("local-dir:PATH/TO/THIS/FOLDER/s2", pretrained=True).eval()',
        "# x_s1: N x 2 x H x W, x_s2: N x 10 x H x W, each standardised as its config.json says",
        f"features = torch.cat([s1_net(x_s1), s2_net(x_s2)], dim=1)  # N x {s1 + s2}, S1 first",
        "```",
        "",
    ]
    if adapter == "1x1":
        lines += [
            "Both networks have a `1x1` input adapter: apply each folder's "
            "`adapter.safetensors` with the `apply_adapter` of its README.md before its "
            "backbone.",
            "",
        ]
    lines += [
        "With sensormoco: `pair = sensormoco.load_paired_encoders(encoder_file)`; "
        "`pair(**pair.preprocess({'s1': s1_db, 's2': s2_reflectance}))` gives the same "
        "concatenation from raw arrays.",
        "",
    ]
    return "\n".join(lines)
