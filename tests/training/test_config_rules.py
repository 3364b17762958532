"""The rules a pre-training config is validated by (training/config_rules.py)."""

from __future__ import annotations

import pytest

from sensormoco.training.config import PRESETS, load_config
from sensormoco.training.config_rules import ENCODERS, NEGATIVES, PRECISIONS, SCHEDULES


def test_the_choices_are_those_the_config_offers() -> None:
    assert PRECISIONS == ("32", "bf16-mixed", "16-mixed")
    assert SCHEDULES == ("cosine", "constant")
    assert NEGATIVES == ("shared", "cross-sensor")
    assert ENCODERS == ("shared", "per-sensor")
    message = r"schedule 'linear' is not one of \['cosine', 'constant'\]"
    with pytest.raises(ValueError, match=message):
        load_config(None, {"mode": "augment", "schedule": "linear"})


def test_queue_must_be_a_multiple_of_the_global_batch() -> None:
    with pytest.raises(ValueError, match="queue_size 100 is not a multiple of the global batch 24"):
        load_config(None, {"mode": "augment", "batch_size": 24, "queue_size": 100})
    overrides = {"mode": "augment", "batch_size": 32, "queue_size": 96, "devices": 2}
    with pytest.raises(ValueError, match=r"global batch 64 \(batch_size 32 x devices 2"):
        load_config(None, overrides)
    assert load_config(None, overrides | {"queue_size": 128}).global_batch == 64


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({}, "no pre-training mode"), ({"mode": "sensor-swap"}, "mode 'sensor-swap' is not one of"),
     ({"mode": "sensor-pairs", "augment": "paper"}, "sensor-pairs uses no augmentation"),
     ({"mode": "fusion-all", "augment": "none"}, "needs an augmentation preset"),
     ({"mode": "sensor-pairs", "input": "s1"}, "uses both sensors"),
     ({"mode": "augment", "precision": "64"}, "precision '64' is not one of"),
     ({"mode": "augment", "batch_size": 8, "bn_splits": 8, "queue_size": 64}, "sub-batches")],
)  # fmt: skip
def test_invalid_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(None, overrides)


def test_one_process_refuses_batch_norm_shared_by_a_query_and_its_key() -> None:
    """With one process, keys must be normalised over other sub-batches than their queries
    (shuffle-BN emulation, bn_splits >= 2); the presets and the defaults do so."""
    for name in PRESETS:
        c = load_config(name, {"mode": "sensor-pairs"})
        assert c.shuffle_bn
        assert c.bn_splits >= 2
    assert load_config(None, {"mode": "sensor-pairs"}).bn_splits >= 2
    for leak in ({"bn_splits": 1}, {"shuffle_bn": False}):
        with pytest.raises(ValueError, match="batch-norm statistics"):
            load_config("cpu-small", {"mode": "sensor-pairs", **leak})
    # several processes: keys are shuffled across ranks (MoCo's shuffle-BN)
    ddp = load_config("cpu-small", {"mode": "sensor-pairs", "bn_splits": 1, "devices": 2,
                                    "queue_size": 128})  # fmt: skip
    assert ddp.bn_splits == 1


def test_symmetric_needs_sensor_pairs() -> None:
    symmetric = {"mode": "sensor-pairs", "symmetric": True, "batch_size": 16}
    c = load_config("cpu-small", symmetric)
    assert c.symmetric
    assert c.queue_groups == 2
    with pytest.raises(ValueError, match="symmetric needs a sensor-pair mode"):
        load_config("cpu-small", {"mode": "fusion-all", "symmetric": True})
    ddp = load_config("cpu-small", symmetric | {"bn_splits": 1, "devices": 2})
    assert ddp.global_batch == 32  # keys shuffled across ranks, as in one direction
    per_sensor = {"mode": "sensor-pairs", "encoder": "per-sensor", "batch_size": 6}
    per_sensor |= {"bn_splits": 3, "queue_size": 36}
    with pytest.raises(ValueError, match="half the batch_size 6"):
        load_config("cpu-small", per_sensor)
    assert load_config("cpu-small", per_sensor | {"symmetric": True}).symmetric
