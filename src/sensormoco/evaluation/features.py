"""Frozen-network features of a dataset, computed batch by batch into ``.npy`` files.

A feature file ``FOLDER/{key}.npy`` holds N x F float32 rows, row i the features of sample
i. Its key hashes everything the rows depend on: the network's weights (and the encoder file,
variant and role it came from), the input (which sensors are zeroed), the bands, and the data
(a fingerprint of its source and of the id list, in order). A file is written under a
temporary name and renamed when complete, so a cache file is either whole or absent and a
stale one (another encoder, data version or id list) is never found under a current key.

Pixels pass through memory one batch at a time; the features are written to a memory-mapped
file as they come, so memory does not grow with the number of samples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sensormoco.atomic import atomic_path
from sensormoco.evaluation.loader import LoaderSettings, inputs, loader
from sensormoco.evaluation.samples import Sample
from sensormoco.progress import Progress

FORMAT = 1
FeatureArray = np.ndarray[Any, np.dtype[np.float32]]


def weights_sha256(module: nn.Module) -> str:
    """sha256 of a module's state (names, dtypes, shapes and bytes of every tensor)."""
    digest = hashlib.sha256()
    for name, value in module.state_dict().items():
        tensor = value.detach().cpu().contiguous().reshape(-1)  # 1-d: any dtype views as bytes
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def feature_key(network: Mapping[str, Any], input_: str, bands: Sequence[str], data: str) -> str:
    """The cache key of the features of ``network`` (a description including its weights'
    sha256) for ``input_`` on the samples fingerprinted by ``data``."""
    text = json.dumps(
        {
            "format": FORMAT,
            "network": dict(network),
            "input": input_,
            "bands": list(bands),
            "data": data,
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def open_features(path: Path) -> FeatureArray:
    """A feature file memory-mapped read-only (N x F)."""
    array: FeatureArray = np.load(path, mmap_mode="r")
    return array


class FeatureCache:
    """Feature files in ``folder``, computed with ``settings`` when absent."""

    def __init__(self, folder: str | Path, settings: LoaderSettings) -> None:
        self.folder = Path(folder)
        self.settings = settings

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.npy"

    def has(self, network: Mapping[str, Any], name: str, bands: Sequence[str], data: str) -> bool:
        """Whether the features of ``network`` for input ``name`` on ``data`` are cached."""
        return self.path(feature_key(network, name, bands, data)).is_file()

    def features(
        self,
        net: nn.Module,
        network: Mapping[str, Any],
        dataset: Dataset[Sample],
        data: str,
        names: Sequence[str],
        bands: Sequence[str],
    ) -> dict[str, FeatureArray]:
        """Features (N x F, memory-mapped) of ``net`` on ``dataset`` for each input in
        ``names``; those not cached are computed in one pass over the data."""
        keys = {name: feature_key(network, name, bands, data) for name in names}
        todo = [name for name in names if not self.path(keys[name]).is_file()]
        if todo:
            self._compute(net, dataset, {name: keys[name] for name in todo}, bands)
        return {name: open_features(self.path(keys[name])) for name in names}

    @torch.no_grad()
    def _compute(
        self,
        net: nn.Module,
        dataset: Dataset[Sample],
        keys: Mapping[str, str],
        bands: Sequence[str],
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        if n == 0:
            raise ValueError("no samples to compute features of")
        device = self.settings.device
        was_training = net.training
        net.eval()
        with ExitStack() as files, Progress("features", n) as shown:
            arrays: dict[str, np.memmap[Any, np.dtype[np.float32]]] = {}
            row = 0
            for batch in loader(dataset, self.settings):
                for name, key in keys.items():
                    out = net(inputs(batch, name, bands, device)).float().cpu()  # B x F
                    if name not in arrays:
                        tmp = files.enter_context(atomic_path(self.path(key)))
                        arrays[name] = np.lib.format.open_memmap(
                            tmp, "w+", np.float32, (n, out.shape[1])
                        )
                    arrays[name][row : row + len(out)] = out.numpy()
                row += len(batch["s1"])
                shown.update(len(batch["s1"]))
            for array in arrays.values():
                array.flush()
            arrays.clear()
        net.train(was_training)


def blocks(array: FeatureArray, rows: int, device: torch.device) -> Iterator[Tensor]:
    """``array`` as float32 tensors of ``rows`` rows at a time (the last may be shorter)."""
    for start in range(0, len(array), rows):
        yield torch.from_numpy(np.array(array[start : start + rows])).to(device)  # B x F


def load(array: FeatureArray, device: torch.device) -> Tensor:
    """All of ``array`` as one tensor (for budget-sized feature sets)."""
    return torch.from_numpy(np.array(array)).to(device)  # N x F
