"""Pre-training configs: presets, unknown keys, types, queue divisibility, YAML round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sensormoco.errors import DataError
from sensormoco.training.config import (
    PRESETS,
    PretrainConfig,
    incompatible_changes,
    load_config,
)

PRESETS_DIR = Path(__file__).resolve().parents[2] / "src" / "sensormoco" / "resources" / "presets"


def _yaml(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_paper_preset_has_the_papers_settings() -> None:
    c = load_config("paper", {"mode": "sensor-pairs"})
    assert (c.backbone, c.dim, c.lr, c.temperature) == ("resnet50", 128, 0.03, 0.2)
    assert c.batch_size == 64
    assert (c.queue_size, c.key_momentum, c.sgd_momentum) == (65536, 0.999, 0.9)
    assert (c.weight_decay, c.schedule) == (1e-4, "cosine")


def test_auto_augmentation_follows_the_mode() -> None:
    assert load_config("paper", {"mode": "sensor-pairs"}).augment == "none"
    assert load_config("paper", {"mode": "fusion-all"}).augment == "paper"


def test_auto_negatives_are_cross_sensor_for_sensor_pairs_only() -> None:
    for mode in ("sensor-pairs", "sensor-pairs-augment"):
        c = load_config("cpu-small", {"mode": mode})
        assert (c.negatives, c.queue_groups) == ("cross-sensor", 2)
    c = load_config("cpu-small", {"mode": "fusion-all"})
    assert (c.negatives, c.queue_groups) == ("shared", 1)
    shared = load_config("cpu-small", {"mode": "sensor-pairs", "negatives": "shared"})
    assert shared.queue_groups == 1
    with pytest.raises(ValueError, match="cross-sensor needs a sensor-pair mode"):
        load_config("cpu-small", {"mode": "fusion-all", "negatives": "cross-sensor"})
    # each of the two segments must take whole global batches
    message = r"x 2 queue segments \(cross-sensor\); try queue_size 128"
    with pytest.raises(ValueError, match=message):
        load_config(None, {"mode": "sensor-pairs", "batch_size": 32, "queue_size": 96})


def test_fusion_optional_takes_cross_sensor_negatives_in_three_segments() -> None:
    c = load_config("cpu-small", {"mode": "fusion-optional", "negatives": "cross-sensor",
                                  "batch_size": 16, "queue_size": 96})  # fmt: skip
    assert c.queue_groups == 3
    assert load_config("cpu-small", {"mode": "fusion-optional"}).negatives == "shared"
    with pytest.raises(ValueError, match=r"x 3 queue segments \(cross-sensor\)"):
        load_config("cpu-small", {"mode": "fusion-optional", "negatives": "cross-sensor"})


@pytest.mark.parametrize("name", ["paper", "cpu-small"])
def test_presets_load_by_name_from_the_packages_yaml_files(name: str) -> None:
    by_file = load_config(PRESETS_DIR / f"{name}.yaml", {"mode": "fusion-partial"})
    assert by_file == load_config(name, {"mode": "fusion-partial"})
    assert PRESETS[name] == PRESETS_DIR / f"{name}.yaml"


def test_the_paper_preset_holds_the_papers_settings() -> None:
    c = load_config("paper", {"mode": "sensor-pairs"})
    assert (c.backbone, c.dim, c.lr, c.temperature, c.batch_size) == (
        "resnet50",
        128,
        0.03,
        0.2,
        64,
    )
    assert (c.sgd_momentum, c.weight_decay, c.queue_size, c.key_momentum) == (
        0.9,
        1e-4,
        65536,
        0.999,
    )


def test_unknown_key_names_the_nearest_valid_key(tmp_path: Path) -> None:
    path = _yaml(tmp_path, {"mode": "sensor-pairs", "bacth_size": 8})
    with pytest.raises(DataError, match=r"unknown key 'bacth_size'; did you mean batch_size\?"):
        load_config(path)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [("batch_size", "eight", "int"), ("epochs", True, "int"), ("same_window", 1, "bool"),
     ("lr", "fast", "float"), ("backbone", 18, "str")],
)  # fmt: skip
def test_wrong_types_are_rejected_naming_the_file(
    tmp_path: Path, key: str, value: object, expected: str
) -> None:
    path = _yaml(tmp_path, {"mode": "augment", key: value})
    with pytest.raises(DataError, match=rf"config.yaml: {key} must be {expected}"):
        load_config(path)


def test_yaml_quirks_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mode: augment\nweight_decay: 1e-4\nlr: 1\nprecision: 32\n")
    c = load_config(path)
    assert (c.weight_decay, c.lr, c.precision) == (1e-4, 1.0, "32")


def test_missing_file_or_preset_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such config file or preset; presets: paper"):
        load_config(tmp_path / "nope.yaml", {"mode": "augment"})


def test_yaml_round_trip(tmp_path: Path) -> None:
    config = load_config("cpu-small", {"mode": "fusion-optional", "subset": "ids.txt", "lr": 0.1})
    config.save(tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == config
    assert PretrainConfig(**config.to_dict()) == config


def test_resume_may_change_run_length_but_not_the_experiment() -> None:
    saved = load_config("cpu-small", {"mode": "sensor-pairs"}).to_dict()
    longer = load_config("cpu-small", {"mode": "sensor-pairs", "max_steps": 900})
    assert incompatible_changes(saved, longer) == []
    other = load_config("cpu-small", {"mode": "sensor-pairs", "lr": 0.5})
    assert incompatible_changes(saved, other) == [f"lr: {saved['lr']!r} -> 0.5"]


def test_a_checkpoint_from_before_negatives_existed_ran_a_shared_queue() -> None:
    old = load_config("cpu-small", {"mode": "fusion-all"}).to_dict()
    del old["negatives"]  # written before the setting existed
    assert incompatible_changes(old, load_config("cpu-small", {"mode": "fusion-all"})) == []
    old_pairs = load_config("cpu-small", {"mode": "sensor-pairs", "negatives": "shared"})
    saved = {k: v for k, v in old_pairs.to_dict().items() if k != "negatives"}
    now = load_config("cpu-small", {"mode": "sensor-pairs"})
    assert incompatible_changes(saved, now) == ["negatives: 'shared' -> 'cross-sensor'"]
    assert incompatible_changes(saved, old_pairs) == []  # --negatives shared resumes it
