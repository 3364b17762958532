"""``sensormoco evaluate`` from the command line: arguments checked before any slow step, run
folders that cannot contradict themselves, one seed without a made-up std, honest names, the
encoder file read once."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import sensormoco.evaluation.run as run_module
from sensormoco.cli.main import main
from sensormoco.data.bands import INPUT_BANDS, SEN12MS_NORMALIZATION
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder

FAST = ["--budget", "20", "--val-fraction", "0.2", "--backbone", "resnet18", "--epochs", "1",
        "--batch-size", "16"]  # fmt: skip


class Payload:
    """A pickled object: refused by weights-only loading (PyTorch then suggests unsafe loading)."""


def _encoder(path: Path) -> Path:
    torch.manual_seed(0)
    encoder = build_encoder(INPUT_BANDS["s2"], "resnet18", "conv1", 16)
    meta = {"normalization": SEN12MS_NORMALIZATION.select(INPUT_BANDS["s2"]).to_dict()}
    export_encoder(encoder, path, meta)
    return path


def test_one_seed_has_no_std_and_config_records_the_encoder(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    encoder = _encoder(tmp_path / "encoder.pt")
    args = ["evaluate", "--data", str(synth_root), "--encoder", str(encoder), "--out", str(out),
            "--seeds", "0", *FAST[:4], "--epochs", "1"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "± n/a (one seed)" in printed
    saved = json.loads((out / "metrics.json").read_text())
    assert all(v["std"] is None for v in saved["aggregate"].values())
    assert "| oa | " in (out / "metrics.md").read_text()
    assert "n/a |" in (out / "metrics.md").read_text()
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["backbone"] == "resnet18"  # the encoder's, not the resnet50 default
    # the folder holds a run now: a second run is refused, --resume continues it
    assert main(args) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert main([*args, "--resume"]) == 0
    assert not (out / ".sensormoco.lock").exists()


_OPENS: dict[Path, list[str]] = {}  # a watched file -> the mode of each open
_HOOKED: list[bool] = []


def _record_open(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _OPENS and isinstance(args[0], str | Path):
        opened = _OPENS.get(Path(args[0]).resolve())
        if opened is not None:
            opened.append(str(args[1]))


@contextmanager
def _opens(path: Path) -> Iterator[list[str]]:
    """The opens of ``path`` inside, seen by an audit hook (installed once, idle outside)."""
    if not _HOOKED:
        sys.addaudithook(_record_open)
        _HOOKED.append(True)
    opened: list[str] = []
    _OPENS[path.resolve()] = opened
    try:
        yield opened
    finally:
        del _OPENS[path.resolve()]


def test_one_evaluate_run_reads_the_encoder_file_once(synth_root: Path, tmp_path: Path) -> None:
    """The metadata checks, the per-sensor test, the SHA-256 and every seed's network share
    one read of the file."""
    encoder, out = _encoder(tmp_path / "encoder.pt"), tmp_path / "run"
    run = ["evaluate", "--data", str(synth_root), "--encoder", str(encoder), "-o", str(out)]
    with _opens(encoder) as opened:
        assert main([*run, "--protocol", "knn", "--seeds", "0", "1", *FAST]) == 0
    assert len(opened) == 1, opened


def test_random_init_linear_probe_is_not_called_supervised(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "r"),
                 "--seeds", "0", *FAST]) == 0  # fmt: skip
    assert "evaluated random-init (linear, s2, budget 20)" in capsys.readouterr().out


def test_a_failed_run_leaves_no_folder(synth_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "new" / "run"
    assert main(["evaluate", "--data", str(synth_root), "--out", str(out), "--budget", "4000",
                 "--backbone", "resnet18"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--budget 4000 is given; choose a smaller --budget or 'full'" in err
    assert not (tmp_path / "new").exists()


def test_the_default_budget_is_named_when_it_does_not_fit(
    synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "o"),
                 "--backbone", "resnet18"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--budget 1024 is the default; choose a smaller --budget" in err
    assert "--val-fraction" in err
    assert len(err.strip().splitlines()) == 1


def test_a_corrupt_encoder_never_suggests_unsafe_loading(tmp_path: Path, synth_root, capsys):
    for name, write in (("garbage.pt", lambda p: p.write_bytes(b"not a checkpoint")),
                        ("object.pt", lambda p: torch.save({"x": Payload()}, p))):  # fmt: skip
        bad = tmp_path / name
        write(bad)
        assert main(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "o"),
                     "--encoder", str(bad)]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert f"{bad}: not a complete encoder file" in err
        assert "weights_only" not in err
        assert "False" not in err
        assert len(err.strip().splitlines()) == 1


def test_every_argument_is_checked_before_the_first_slow_step(
    synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def slow(*args: object, **kwargs: object) -> None:
        raise AssertionError("reached the data scan")

    monkeypatch.setattr(run_module, "load_sen12ms", slow)
    monkeypatch.setattr("sensormoco.training.pretrain.PretrainDataModule", slow)
    monkeypatch.setattr("sensormoco.cli.sources.open_source", slow)
    (tmp_path / "file").write_text("x")
    used = tmp_path / "used"
    used.mkdir()
    (used / "metrics.json").write_text("{}")
    encoder = _encoder(tmp_path / "encoder.pt")
    data, out = ["--data", str(synth_root)], ["--out", str(tmp_path / "o")]
    cases = {
        "nope: no such data directory": ["evaluate", "--data", str(tmp_path / "nope"), *out],
        "file: is a file, not a data directory": ["evaluate", "--data", str(tmp_path / "file"),
                                                  *out],
        "is a folder, not a file": ["evaluate", *data, *out, "--encoder", str(tmp_path)],
        "no such file": ["evaluate", *data, *out, "--encoder", str(tmp_path / "x.pt")],
        "truncated or corrupt": ["evaluate", *data, *out, "--encoder", str(tmp_path / "file")],
        "already holds a run": ["evaluate", *data, "--out", str(used)],
        "file, not a folder; give": ["evaluate", *data, "--out", str(tmp_path / "file")],
        "at least 2 patches": ["evaluate", *data, *out, "--budget", "1"],
        "must be in [0, 1)": ["evaluate", *data, *out, "--val-fraction", "1.5"],
        "must be positive": ["evaluate", *data, *out, "--epochs", "0"],
        "invalid choice": ["evaluate", *data, *out, "--protocol", "lin"],
        "needs --encoder": ["evaluate", *data, *out, "--variant", "moco"],
        "takes no encoder": ["evaluate", *data, *out, "--variant", "supervised", "--encoder",
                             str(encoder)],
        "pretrain: error: " + str(tmp_path / "file"): ["pretrain", *data, "--mode",
                                                       "augment", "--out", str(tmp_path / "file")],
        "YAML mapping": ["pretrain", *data, "--mode", "augment", *out, "--config",
                        str(tmp_path / "file")],
        "no pre-training mode": ["pretrain", *data, *out],
        "--ids: no such file": ["pretrain", *data, "--mode", "augment", *out, "--ids", "n.txt"],
        "sizes must be positive": ["split", "sen12ms", str(synth_root), *out, "--budget", "0"],
        f"{used}: already holds a run; choose": ["split", "sen12ms", str(synth_root),
                                                 "-o", str(used)],
    }  # fmt: skip
    for expected, argv in cases.items():
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own errors
            code = int(exc.code or 0)
        err = capsys.readouterr().err
        assert code == 2, (argv, err)
        assert expected in err, (expected, err)
    assert not (tmp_path / "o").exists()


def test_split_with_an_impossible_budget_writes_nothing(synth_root: Path, tmp_path: Path,
                                                        capsys) -> None:  # fmt: skip
    out = tmp_path / "splits"
    assert main(["split", "sen12ms", str(synth_root), "-o", str(out), "--budget", "4096"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--budget: budget 4096 needs" in captured.err
    assert not out.exists()


@pytest.mark.parametrize(("given", "budget"), [(["--budget", "full"], None), ([], 1024),
                                               (["--budget", "64"], 64)])  # fmt: skip
def test_budget_full_reaches_the_config(given: list[str], budget: int | None, tmp_path: Path):
    """``--budget full`` is the whole split (None), not dropped in favour of the default."""
    from sensormoco.cli.evaluate import _config
    from sensormoco.cli.main import build_parser

    args = build_parser().parse_args(["evaluate", "--data", str(tmp_path), "-o",
                                      str(tmp_path / "run"), *given])  # fmt: skip
    assert _config(args)[0].budget == budget
