"""The transfer variants (docs/design.md §3): which weights a classifier's feature
network starts from.

| variant | adapter | backbone |
|---|---|---|
| supervised | conv1 on the task's bands, random | random |
| supervised-1x1 | 1x1, random | random (3 input channels) |
| moco | the encoder's (conv1 or zero-pad) | pre-trained |
| moco-1x1 | the encoder's 1x1, pre-trained | pre-trained |
| moco-1x1-rnd | the encoder's 1x1, re-initialised | pre-trained |

The projection head of a pre-trained encoder is dropped at transfer (MoCo's protocol). A partial
load names the keys it expects to leave out and checks that exactly those were left out.

Per-sensor encoders (a file of ``encoder: per-sensor``: an S1 and an S2 network) give a
:class:`PairedFeatureNet`, each moco variant applied to each network: input s1 runs the S1
network on the S1 bands, s2 the S2 network on the S2 bands, and s1s2 both on their own
bands with the pooled features **concatenated**, S1 then S2 (F = F_S1 + F_S2;
:class:`~sensormoco.models.per_sensor.PairedFeatures`). The linear probe and kNN read that
concatenation; fine-tuning trains both networks and one head on it. A missing sensor is zeros
after standardisation, as for every encoder: its network then contributes the features of an
all-zero input (a constant vector).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sensormoco.data.bands import FUSION_BANDS, INPUT_BANDS, S1_BANDS, Normalization, accepts
from sensormoco.errors import DataError
from sensormoco.models.adapters import InputAdapter, to_fusion_layout
from sensormoco.models.moco import Encoder, build_encoder
from sensormoco.models.per_sensor import SENSORS, PairedFeatures
from sensormoco.training.checkpoint import is_paired, load_encoder, load_paired_encoders
from sensormoco.training.encoder_file import EncoderSource, source_path

VARIANTS: tuple[str, ...] = ("supervised", "supervised-1x1", "moco", "moco-1x1", "moco-1x1-rnd")


class FeatureNet(nn.Module):
    """adapter -> backbone: N x C x H x W -> N x F (the classifier's feature extractor)."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.adapter: InputAdapter = encoder.adapter
        self.backbone = encoder.backbone

    @property
    def bands(self) -> tuple[str, ...]:
        return self.adapter.bands

    @property
    def num_features(self) -> int:
        return int(self.backbone.num_features)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.backbone(self.adapter(x))  # N x F
        return out


class PairedFeatureNet(nn.Module):
    """Per-sensor encoders as the classifier's feature extractor for ``input_`` (see the
    module notes): N x len(bands) x H x W -> N x F; ``networks`` the sensors it runs."""

    def __init__(self, encoders: dict[str, Encoder], input_: str) -> None:
        super().__init__()
        self.paired = PairedFeatures(encoders, input_)
        self._bands = INPUT_BANDS[input_]

    @property
    def bands(self) -> tuple[str, ...]:
        return self._bands

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(self.paired.sensors)

    @property
    def num_features(self) -> int:
        return self.paired.num_features

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.paired(x)  # N x F (N x (F_S1 + F_S2) for s1s2)
        return out


Features = FeatureNet | PairedFeatureNet


@dataclass
class Loaded:
    """A variant's feature network, the encoder it came from (None for supervised) and what was
    loaded: ``reinitialised`` lists the state keys deliberately left at initialisation. Per-sensor
    encoders: ``encoders`` holds both networks (with their heads), ``encoder`` is None."""

    features: Features
    encoder: Encoder | None
    metadata: dict[str, Any]
    reinitialised: list[str]
    encoders: dict[str, Encoder] | None = None


def model_input(batch: dict[str, Tensor], input_: str, bands: Sequence[str]) -> Tensor:
    """The tensor a network with ``bands`` takes for ``input_`` (N x C x H x W): the fusion
    layout with the sensor not in ``input_`` zeroed (its mean after normalisation), or one
    sensor's own bands."""
    bands = tuple(bands)
    if not accepts(bands, input_):
        raise ValueError(f"a network on bands {list(bands)} cannot take input {input_!r}")
    if bands == FUSION_BANDS:
        s1 = batch["s1"] if "s1" in input_ else None
        s2 = batch["s2"] if "s2" in input_ else None
        if s1 is None and s2 is not None:
            s1 = s2.new_zeros(s2.shape[0], len(S1_BANDS), *s2.shape[2:])
        return to_fusion_layout(s2, s1)
    return batch[input_]  # a single-sensor network on its own sensor


def load_partial(
    module: nn.Module, state: dict[str, Tensor], expected_missing: set[str], source: str | Path
) -> None:
    """Load ``state`` into ``module``, requiring that exactly ``expected_missing`` of the
    module's keys are absent from it and that nothing in it is unused."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    # batch norm fills a missing num_batches_tracked itself (old checkpoints) and never reports it
    expected_missing = {k for k in expected_missing if not k.endswith(".num_batches_tracked")}
    if set(missing) != expected_missing or unexpected:
        extra = sorted(set(missing) - expected_missing)
        kept = sorted(expected_missing - set(missing))
        raise DataError(
            source,
            f"partial load mismatch: unexpectedly missing {extra[:3]}, "
            f"unexpectedly present {kept[:3]}, unused {unexpected[:3]}",
        )


def _check_adapter(path: str | Path, variant: str, adapter: str) -> None:
    needs = "1x1" if variant.startswith("moco-1x1") else None
    if needs and adapter != needs:
        raise DataError(path, f"variant {variant} needs a 1x1-adapter encoder, got {adapter}")
    if not needs and adapter == "1x1":
        raise DataError(
            path,
            f"variant {variant} takes a conv1 or zero-pad encoder; this one has "
            "a 1x1 adapter (use moco-1x1 or moco-1x1-rnd)",
            "adapter",
        )


def load_variant(
    variant: str,
    input_: str,
    backbone: str,
    encoder_file: EncoderSource | None = None,
    normalization: Normalization | None = None,
    seed: int = 0,
) -> Loaded:
    """The feature network of ``variant`` for ``input_``; moco variants read ``encoder_file``
    (a path, or the file read once; its bands must be able to take ``input_``; its normalisation
    must equal ``normalization`` when given). Random initialisation is seeded by ``seed``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {list(VARIANTS)}")
    if input_ not in INPUT_BANDS:
        raise ValueError(f"unknown input {input_!r}; choose one of {list(INPUT_BANDS)}")
    torch.manual_seed(seed)
    if variant.startswith("supervised"):
        if encoder_file is not None:
            raise ValueError(f"variant {variant} starts from random weights; drop --encoder")
        adapter = "1x1" if variant == "supervised-1x1" else "conv1"
        encoder = build_encoder(INPUT_BANDS[input_], backbone, adapter)
        meta: dict[str, Any] = {
            "backbone": backbone,
            "adapter": adapter,
            "bands": list(INPUT_BANDS[input_]),
        }
        return Loaded(FeatureNet(encoder), None, meta, [])
    if encoder_file is None:
        raise ValueError(f"variant {variant} needs --encoder FILE")
    encoder_path = source_path(encoder_file)
    if is_paired(encoder_file):
        return _load_paired(variant, input_, encoder_file, normalization)
    encoder, meta = load_encoder(encoder_file, expected_normalization=normalization)
    _check_adapter(encoder_path, variant, meta["adapter"])
    try:
        model_input(
            {"s1": torch.zeros(1, 2, 1, 1), "s2": torch.zeros(1, 10, 1, 1)}, input_, encoder.bands
        )
    except ValueError as exc:
        raise DataError(
            encoder_path,
            f"encoder bands {list(encoder.bands)} do not fit input {input_!r}",
            "bands",
        ) from exc
    transfer, reinitialised = _transfer_encoder(variant, encoder, encoder_path)
    return Loaded(FeatureNet(transfer), encoder, meta, reinitialised)


def _transfer_encoder(
    variant: str, encoder: Encoder, path: str | Path
) -> tuple[Encoder, list[str]]:
    """The encoder whose adapter and backbone ``variant`` transfers, and the state keys (of its
    FeatureNet) it leaves at initialisation: moco-1x1-rnd re-initialises the adapter."""
    if variant != "moco-1x1-rnd":
        return encoder, []
    trained = {k: v.clone() for k, v in FeatureNet(encoder).state_dict().items()}
    # a fresh adapter is always trainable, whatever the pre-training's adapter_trainable
    name, dim = encoder.backbone.name, encoder.out_dim
    fresh = build_encoder(encoder.bands, name, "1x1", dim, adapter_trainable=True)
    reinitialised = sorted(k for k in trained if k.startswith("adapter."))
    backbone_only = {k: v for k, v in trained.items() if not k.startswith("adapter.")}
    load_partial(FeatureNet(fresh), backbone_only, set(reinitialised), path)
    return fresh, reinitialised


def _load_paired(
    variant: str, input_: str, encoder_file: EncoderSource, normalization: Normalization | None
) -> Loaded:
    """``variant`` of the per-sensor encoder file for ``input_`` (module notes)."""
    encoders, meta = load_paired_encoders(encoder_file, normalization)
    path = source_path(encoder_file)
    transfer: dict[str, Encoder] = {}
    reinitialised: list[str] = []
    for sensor in SENSORS:
        _check_adapter(path, variant, encoders[sensor].adapter.kind)
        network, fresh = _transfer_encoder(variant, encoders[sensor], path)
        transfer[sensor] = network
        reinitialised += [f"{sensor}.{k}" for k in fresh]
    meta = meta | {"backbone": encoders["s2"].backbone.name, "adapter": encoders["s2"].adapter.kind}
    return Loaded(PairedFeatureNet(transfer, input_), None, meta, reinitialised, encoders)
