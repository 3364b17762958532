"""Every labelled dataset satisfies the ``Labelled`` protocol evaluation is written against."""

from __future__ import annotations

from pathlib import Path

import pytest

from sensormoco.data.bands import BIGEARTHNET_NORMALIZATION, SEN12MS_NORMALIZATION
from sensormoco.evaluation.bigearthnet_data import load_bigearthnet
from sensormoco.evaluation.data import load_sen12ms
from sensormoco.evaluation.samples import Labelled, fingerprint_digest, ids_digest
from tests.evaluation.test_bigearthnet_data import S2


def _shape(data: Labelled) -> tuple[int, int]:
    """What evaluation reads of any labelled dataset (typed against the protocol)."""
    train, val = data.budget(None, 0)
    ids = data.test_ids[:2]
    samples = data.samples(ids, "multi")
    assert [int(samples[i]["index"]) for i in range(len(ids))] == list(range(len(ids)))
    assert data.targets(ids, "multi").shape == (len(ids), len(data.class_names))
    assert data.fingerprint(ids) == data.fingerprint(ids)
    return len(train), len(val)


def test_sen12ms_and_bigearthnet_v1_v2_are_labelled(
    synth_root: Path, benv2_lmdb: Path, ben: tuple[Path, Path], tmp_path: Path
) -> None:
    for name, rows in (("train", S2[:3]), ("val", S2[3:4]), ("test", S2[4:])):
        (tmp_path / f"{name}.csv").write_text("".join(f"{a},{b}\n" for a, b in rows))
    sen12ms = load_sen12ms(synth_root, val_fraction=0.2)
    v1 = load_bigearthnet(ben[0].parent, "19", tmp_path)
    v2 = load_bigearthnet(benv2_lmdb)
    for data in (sen12ms, v1, v2):
        assert isinstance(data, Labelled)
    assert _shape(v1) == (3, 1)
    assert _shape(v2) == (6, 6)
    assert sum(_shape(sen12ms)) + len(sen12ms.test_ids) + sen12ms.skipped > 0


def test_the_fingerprint_digest_starts_from_normalisation_and_ids() -> None:
    a = fingerprint_digest(SEN12MS_NORMALIZATION, ["x", "y"]).hexdigest()
    assert a == fingerprint_digest(SEN12MS_NORMALIZATION, ["x", "y"]).hexdigest()
    assert a != fingerprint_digest(SEN12MS_NORMALIZATION, ["y", "x"]).hexdigest()
    assert a != fingerprint_digest(BIGEARTHNET_NORMALIZATION, ["x", "y"]).hexdigest()
    assert ids_digest(["x", "y"]) != ids_digest(["xy"])


@pytest.mark.parametrize("label_type", ["single", "multi"])
def test_bigearthnet_single_targets_are_the_multi_hot_arg_max(
    benv2_lmdb: Path, label_type: str
) -> None:
    data = load_bigearthnet(benv2_lmdb)
    multi = data.targets(data.test_ids, "multi")
    targets = data.targets(data.test_ids, label_type)
    assert targets.equal(multi if label_type == "multi" else multi.argmax(dim=1))
