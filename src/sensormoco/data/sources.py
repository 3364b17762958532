"""Where patches come from: the one chooser of what a ``--data`` / ROOT path holds.

A :class:`PatchSource` is the usable patches of one path, restricted to an id list, with what
every command needs of them: ids, footprints, IGBP fractions, and a dataset of their pixels.
:data:`SOURCE_KINDS` lists the kinds in the order they are tried (a BigEarthNet v2 store, a
BigEarthNet v2 root, a packed SEN12MS store, then a SEN12MS GeoTIFF tree); a new dataset adds a
:class:`SourceKind` there, and :func:`source_kind` tells every command which dataset a path
holds. The same ids give the same ids, footprints, fractions and samples from a tree and from
its store. BigEarthNet v2 roots are read by data/bigearthnet/v2*.py (``sensormoco COMMAND
bigearthnet``, pre-training, evaluation); the SEN12MS commands refuse them in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np

from sensormoco import defaults
from sensormoco.data.bands import SEN12MS_NORMALIZATION, Normalization
from sensormoco.data.samples import SampleOptions as SampleOptions  # re-exported
from sensormoco.data.samples import standardize as standardize  # re-exported
from sensormoco.data.sen12ms.index import build_index, read_index_csv, restrict
from sensormoco.data.sen12ms.labels import LcFractions, read_many_lc_fractions
from sensormoco.data.sen12ms.layout import PatchId, PatchRecord, read_id_list
from sensormoco.data.sen12ms.subset import Footprint
from sensormoco.data.store.format import LC_LAYERS, is_store, open_store
from sensormoco.errors import DataError

if TYPE_CHECKING:
    from torch import Tensor

    from sensormoco.data.sen12ms.dataset import SEN12MSDataset
    from sensormoco.data.store.dataset import StoreDataset

PatchDataset: TypeAlias = "SEN12MSDataset | StoreDataset"


@dataclass(frozen=True)
class Skipped:
    """A patch a source holds but cannot use."""

    patch_id: PatchId
    kind: str
    reason: str  # one line naming the file and the problem


class PatchSource(Protocol):
    """The usable patches of one path (ascending id), and what was left out."""

    path: Path
    kind: str  # "tree", "store", ...
    ids: list[PatchId]
    bad: list[Skipped]  # unusable patches (restricted to the requested ids)
    absent: list[PatchId]  # requested ids the source does not hold at all

    def footprints(self) -> list[Footprint]:
        """CRS and bounds of each of ``ids``, in that order."""
        ...

    def igbp_fractions(self, workers: int = defaults.SCAN_WORKERS) -> LcFractions:
        """IGBP fractions of lc layer 1 of each of ``ids`` (failures kept, never raised)."""
        ...

    def dataset(self, ids: Sequence[PatchId], options: SampleOptions) -> PatchDataset:
        """Samples of ``ids`` (a subsequence of ``ids``), in that order."""
        ...


@dataclass(frozen=True)
class OpenOptions:
    """How to open a source: ``index_csv``, ``read_pixels`` and ``workers`` validate a tree."""

    ids: frozenset[PatchId] | None = None
    index_csv: Path | None = None
    read_pixels: bool = False
    workers: int = defaults.SCAN_WORKERS


class TreeSource:
    """A SEN12MS GeoTIFF tree, validated by a scan (headers only by default) or an index."""

    kind = "tree"

    def __init__(self, path: Path, options: OpenOptions) -> None:
        if options.index_csv:
            index = read_index_csv(options.index_csv, path)
        else:
            index = build_index(path, read_pixels=options.read_pixels, workers=options.workers)
        self.absent: list[PatchId] = []
        if options.ids is not None:
            index, self.absent = restrict(index, options.ids)
        self.path, self.workers = path, options.workers
        self.records: dict[PatchId, PatchRecord] = {
            r.patch_id: r for r in sorted(index.usable, key=lambda r: r.patch_id)
        }
        self.ids = list(self.records)
        self.bad = [Skipped(r.patch_id, r.kind, r.reason) for r in index.bad]

    def footprints(self) -> list[Footprint]:
        return [Footprint(pid, r.crs, r.bounds) for pid, r in self.records.items()]

    def igbp_fractions(self, workers: int = defaults.SCAN_WORKERS) -> LcFractions:
        paths = {pid: self.path / r.paths["lc"] for pid, r in self.records.items()}
        return read_many_lc_fractions(paths, workers)

    def dataset(self, ids: Sequence[PatchId], options: SampleOptions) -> SEN12MSDataset:
        from sensormoco.data.sen12ms.dataset import SEN12MSDataset

        return SEN12MSDataset(self.path, [self.records[pid] for pid in ids], options)


class StoreSource:
    """A packed store (data/store/format.py): what the index and labels need is in it."""

    kind = "store"

    def __init__(self, path: Path, options: OpenOptions) -> None:
        if options.index_csv:
            raise DataError(path, "is a packed store; --index applies to a GeoTIFF tree")
        self.path, self.store = path, open_store(path)
        wanted = options.ids
        self.rows = [i for i, p in enumerate(self.store.ids) if wanted is None or p in wanted]
        self.ids = [self.store.ids[i] for i in self.rows]
        self.bad = [
            Skipped(pid, kind, reason)
            for pid, kind, reason in self.store.skipped_rows()
            if kind != "absent" and (wanted is None or pid in wanted)
        ]
        held = set(self.store.ids) | {s.patch_id for s in self.bad}
        self.absent = [] if wanted is None else sorted(wanted - held)
        self._row = dict(zip(self.ids, self.rows, strict=True))

    def footprints(self) -> list[Footprint]:
        every = self.store.footprints()
        return [every[row] for row in self.rows]

    def igbp_fractions(self, workers: int = defaults.SCAN_WORKERS) -> LcFractions:
        fractions = self.store.array("igbp")  # N x 17, memory-mapped
        invalid = self.store.igbp_invalid()  # N
        out = LcFractions()
        for pid, row in zip(self.ids, self.rows, strict=True):
            vector = np.array(fractions[row])  # 17
            if np.isnan(vector[0]):
                where = f"{self.path / 'lc.npy'} row {row} ({pid})"
                message = f"no pixel has a valid IGBP code (1-17) in layer 1 ({LC_LAYERS[0]})"
                out.errors[pid] = DataError(where, message, "labels")
                continue
            out.fractions[pid] = vector
            if invalid[row]:
                out.invalid_pixels[pid] = int(invalid[row])
        return out

    def dataset(self, ids: Sequence[PatchId], options: SampleOptions) -> StoreDataset:
        from sensormoco.data.store.dataset import StoreDataset

        return StoreDataset(self.store, [self._row[pid] for pid in ids], options)


SEN12MS = "sen12ms"
BIGEARTHNET_V2 = "bigearthnet-v2"


@dataclass(frozen=True)
class SourceKind:
    """One kind of source: whether a path holds it, how to open it, and its dataset."""

    name: str
    holds: Callable[[Path], bool]
    open: Callable[[Path, OpenOptions], PatchSource]
    dataset: str = SEN12MS


def _holds_v2_store(path: Path) -> bool:
    from sensormoco.data.bigearthnet.v2_store import is_v2_store

    return is_v2_store(path)


def _holds_v2(path: Path) -> bool:
    from sensormoco.data.bigearthnet.v2 import is_bigearthnet_v2

    return is_bigearthnet_v2(path)


def _not_sen12ms(path: Path, options: OpenOptions) -> PatchSource:
    raise DataError(
        path,
        "is a BigEarthNet v2 root, not SEN12MS: use `sensormoco COMMAND "
        "bigearthnet ROOT` (pretrain and evaluate --dataset bigearthnet read it "
        "as --data)",
        "layout",
    )


SOURCE_KINDS: list[SourceKind] = [
    # first: a v2 store also has a manifest.json
    SourceKind("bigearthnet-v2-store", _holds_v2_store, _not_sen12ms, BIGEARTHNET_V2),
    SourceKind("bigearthnet-v2", _holds_v2, _not_sen12ms, BIGEARTHNET_V2),  # tree or LMDB
    SourceKind("store", is_store, StoreSource),
    SourceKind("tree", Path.is_dir, TreeSource),  # last: any other folder is read as a tree
]


def source_kind(path: str | Path) -> SourceKind:
    """The first of :data:`SOURCE_KINDS` that holds ``path``."""
    path = Path(path)
    for kind in SOURCE_KINDS:
        if kind.holds(path):
            return kind
    raise DataError(path, "not a directory")


def open_source(
    path: str | Path,
    ids: str | Path | Iterable[PatchId] | None = None,
    *,
    index_csv: str | Path | None = None,
    read_pixels: bool = False,
    workers: int = defaults.SCAN_WORKERS,
) -> PatchSource:
    """The source at ``path`` (the first of :data:`SOURCE_KINDS` that holds it), restricted to
    ``ids`` (an ids file or ids)."""
    path = Path(path)
    wanted = None
    if ids is not None:
        wanted = frozenset(read_id_list(ids) if isinstance(ids, (str, Path)) else ids)
    options = OpenOptions(wanted, Path(index_csv) if index_csv else None, read_pixels, workers)
    return source_kind(path).open(path, options)


@dataclass(frozen=True)
class Patches:
    """A dataset over a source, and what was left out of it."""

    dataset: PatchDataset
    ids: list[PatchId]  # dataset.ids, in sample order (ascending patch id)
    kind: str  # the source's kind: "tree" or "store"
    absent: list[PatchId]  # requested ids the source does not hold at all
    skipped_bad: int  # bad triplets left out (for a store: those the pack skipped)
    excluded: int  # usable patches dropped by ``exclude``


def open_patches(
    source: str | Path,
    ids: str | Path | Iterable[PatchId] | None = None,
    exclude: Callable[[PatchId], bool] | None = None,
    *,
    s1_bands: str | Sequence[str] = defaults.S1_BANDS,
    s2_bands: str | Sequence[str] = defaults.S2_BANDS,
    normalization: Normalization | None = SEN12MS_NORMALIZATION,
    with_lc: bool = False,
    targets: Mapping[PatchId, Tensor] | None = None,
    index_csv: str | Path | None = None,
    read_pixels: bool = False,
    workers: int = defaults.SCAN_WORKERS,
    raw: bool = False,
) -> Patches:
    """The usable patches of the source at ``source`` (:func:`open_source`), restricted to
    ``ids`` and without those for which ``exclude`` is true, in ascending patch-id order: the
    same ids give the same samples from a tree and from its store. Samples are standardised
    float32 unless ``raw`` (see :class:`SampleOptions`)."""
    src = open_source(source, ids, index_csv=index_csv, read_pixels=read_pixels, workers=workers)
    skip = exclude or (lambda _: False)
    kept = [pid for pid in src.ids if not skip(pid)]
    options = SampleOptions(s1_bands, s2_bands, normalization, with_lc, targets, raw)
    dataset = src.dataset(kept, options)
    excluded = len(src.ids) - len(kept)
    return Patches(dataset, dataset.ids, src.kind, src.absent, len(src.bad), excluded)
