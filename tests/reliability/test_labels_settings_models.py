"""The bad-input sweep, labels, settings and models: label pickles (never executed), configs,
encoders, index CSVs, id lists and BigEarthNet JSON. Each ends in a one-line error naming the
input and the problem, or is skipped and counted. See docs/reliability.md."""

from __future__ import annotations

import os
import pickle
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from sensormoco.cli.main import main
from sensormoco.data.bands import S1_BANDS, S2_LAND_BANDS, SEN12MS_NORMALIZATION
from sensormoco.data.bigearthnet.v1 import scan_pairs
from sensormoco.data.sen12ms.layout import PatchId
from sensormoco.models import build_encoder
from sensormoco.training.checkpoint import export_encoder
from tests.data.bigearthnet_fake import write_pair
from tests.reliability.common import (
    BAD,
    EVAL_FAST,
    GOOD,
    Capsys,
    one_error,
    run_cli,
)

# --- label pickles: never executed, unexpected types refused or skipped -----------------------


class _RunsCode:
    """Pickles as a call of ``func(*args)``: what a malicious pickle does when loaded."""

    def __init__(self, func: Callable[..., object], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return self.func, self.args


def _labels(root: Path, pkl: Path, tmp_path: Path, capsys: Capsys) -> tuple[int, str, list[str]]:
    argv = ["labels", "sen12ms", str(root), "-o", str(tmp_path / "labels.csv"),
            "--probabilities", str(pkl)]  # fmt: skip
    return run_cli(argv, capsys)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("how", ["os.system", "subprocess.call", "eval", "nested in a list"])
def test_code_running_pickle_is_refused_and_never_runs(
    tree: Path, tmp_path: Path, capsys: Capsys, how: str, protocol: int
) -> None:
    marker = tmp_path / "MARKER"
    payload = {
        "os.system": _RunsCode(os.system, f"touch {marker}"),
        "subprocess.call": _RunsCode(subprocess.call, ["touch", str(marker)]),
        "eval": _RunsCode(eval, f"open({str(marker)!r}, 'w').close()"),
        "nested in a list": [0.0] * 16 + [_RunsCode(os.system, f"touch {marker}")],
    }[how]
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({BAD.filename("s2"): payload}, protocol=protocol))
    code, _, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 2
    message = one_error(err, "labels")
    assert message.startswith(f"{pkl}: refused to load global ")
    assert "the pickle may run code" in message
    assert not marker.exists()
    assert not (tmp_path / "labels.csv").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [([0.5, 0.5], "expected a dict of S2 file name -> 17 fractions, got a list"),
     ({}, "the pickle holds no entries"),
     ({BAD.filename("s2"): {"a": 1.0}}, f"no usable entry: {BAD.filename('s2')}: a dict, "
                                        "expected 17 values"),
     ({BAD.filename("s2"): {0.25, 0.5}}, "a set, expected 17 values"),
     ({BAD.filename("s2"): ["0.5"] * 17}, "a str among the values, expected numbers"),
     ({BAD.filename("s2"): [float("nan")] * 17}, "non-finite value (NaN or Inf)"),
     ({BAD.filename("s2"): np.full(17, 2.0)}, "value outside [0, 1]"),
     ({BAD.filename("s2"): np.zeros((17, 1))}, "shape (17, 1), expected 17 values"),
     ({7: [1.0] + [0.0] * 16}, "no usable entry: 7: key is a int, expected a file name"),
     ({BAD.filename("s2"): np.array([None] * 17, dtype=object)},
      "array data is a list, expected bytes"),
     (b"not a pickle", "not a readable pickle"),
     (b"", "not a readable pickle (pickle exhausted before seeing STOP)")],
)  # fmt: skip
def test_pickle_of_unexpected_types_is_one_line(
    tree: Path, tmp_path: Path, capsys: Capsys, content: object, problem: str
) -> None:
    pkl = tmp_path / "p.pkl"
    pkl.write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    code, _, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 2
    message = one_error(err, "labels")
    assert message.startswith(f"{pkl}: ")
    assert problem in message
    assert not (tmp_path / "labels.csv").exists()


def test_pickle_truncated_or_absent_is_one_line(tree: Path, tmp_path: Path, capsys: Capsys) -> None:
    whole = pickle.dumps({BAD.filename("s2"): np.full(17, 1 / 17)})
    for cut in (len(whole) // 2, 1):
        pkl = tmp_path / f"cut{cut}.pkl"
        pkl.write_bytes(whole[:cut])
        code, _, err = _labels(tree, pkl, tmp_path, capsys)
        assert code == 2
        assert one_error(err, "labels").startswith(f"{pkl}: not a readable pickle (")
    code, _, err = _labels(tree, tmp_path / "absent.pkl", tmp_path, capsys)
    assert one_error(err, "labels") == f"{tmp_path / 'absent.pkl'}: file not found"


def test_pickle_with_some_bad_entries_skips_and_counts_them(
    tree: Path, tmp_path: Path, capsys: Capsys
) -> None:
    good = [PatchId.parse(p) for p in GOOD]
    content: dict[object, object] = {
        good[0].filename("s2"): [1.0] + [0.0] * 16,
        good[1].filename("s2"): "0.5",
        3: None,
        "x": [0.1] * 17,
    }
    pkl = tmp_path / "p.pkl"
    pkl.write_bytes(pickle.dumps(content))
    code, out, err = _labels(tree, pkl, tmp_path, capsys)
    assert code == 0
    first = "3: key is a int, expected a file name"
    assert err[0] == f"skipped 3 bad pickle entr(y/ies); first: {first}"
    assert "labelled 3 patch(es)" in out  # the bad entries fall back to lc


# --- pre-training configs -------------------------------------------------------------------


def _pretrain(config: str | bytes, tmp_path: Path, capsys: Capsys, *extra: str) -> tuple[int, str]:
    path = tmp_path / "c.yaml"
    path.write_bytes(config if isinstance(config, bytes) else config.encode())
    code, _, err = run_cli(["pretrain", "--data", str(tmp_path / "unused"), "--out",
                         str(tmp_path / "run"), "--config", str(path), *extra], capsys)  # fmt: skip
    assert code == 2
    assert not (tmp_path / "run").exists()
    return code, one_error(err, "pretrain")


@pytest.mark.parametrize(
    ("config", "problem"),
    [("mode: sensor-pairs\nqueue_sise: 64\n", "unknown key 'queue_sise'; did you mean queue_size?"),
     ("mode: sensor-pairs\nbacth_size: 8\n", "unknown key 'bacth_size'; did you mean batch_size?"),
     ("mode: sensor-pairs\nlearningrate: 0.1\n", "unknown key 'learningrate'; valid keys: mode, "),
     ("mod: sensor-pairs\n", "unknown key 'mod'; did you mean mode?"),
     ("mode: sensor-pairs\nbatch_size: eight\n", "batch_size must be int, got 'eight'"),
     ("mode: sensor-pairs\nshuffle_bn: 3\n", "shuffle_bn must be bool, got 3"),
     ("- mode\n- sensor-pairs\n", "a pre-training config must be a YAML mapping of key: value"),
     ("mode: [sensor-pairs\nlr: 1\n", "cannot read YAML (while parsing a flow sequence"),
     ("mode:\tsensor-pairs\n\tlr: 1\n", "cannot read YAML ("),
     (b"mode: \xff\xfe\n", "cannot read YAML (")],
)  # fmt: skip
def test_config_errors_are_one_line_naming_the_file(
    tmp_path: Path, capsys: Capsys, config: str | bytes, problem: str
) -> None:
    _, message = _pretrain(config, tmp_path, capsys)
    assert message.startswith(f"{tmp_path / 'c.yaml'}: {problem}")


def test_absent_config_file_is_one_line(tmp_path: Path, capsys: Capsys) -> None:
    code, _, err = run_cli(["pretrain", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                         "--config", str(tmp_path / "nope.yaml")], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "pretrain") == (
        f"{tmp_path / 'nope.yaml'}: no such config file or preset; presets: paper, cpu-small"
    )


def test_config_value_typo_names_the_file(tmp_path: Path, capsys: Capsys) -> None:
    _, message = _pretrain("mode: sensor-pair\n", tmp_path, capsys)
    assert "mode 'sensor-pair' is not one of" in message
    assert message.startswith(f"{tmp_path / 'c.yaml'}: ")


# --- encoders whose bands do not fit the evaluation -----------------------------------------


@pytest.mark.parametrize(
    ("bands", "input_"), [(S1_BANDS, "s2"), (S2_LAND_BANDS, "s1"), (S1_BANDS, "s1s2")]
)
def test_encoder_bands_that_do_not_fit_the_input(
    synth_root: Path, tmp_path: Path, capsys: Capsys, bands: tuple[str, ...], input_: str
) -> None:
    encoder = build_encoder(bands, "resnet18", "conv1", 16)
    path = tmp_path / "encoder.pt"
    export_encoder(encoder, path, {"normalization": SEN12MS_NORMALIZATION.select(bands).to_dict()})
    argv = ["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"), "--encoder",
            str(path), "--input", input_, *EVAL_FAST]  # fmt: skip
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert one_error(err, "evaluate") == (
        f"{path}: encoder bands {list(bands)} do not fit input {input_!r}"
    )
    assert not (tmp_path / "ev" / "metrics.json").exists()


def test_truncated_encoder_is_one_line(synth_root: Path, tmp_path: Path, capsys: Capsys) -> None:
    path = tmp_path / "encoder.pt"
    export_encoder(build_encoder(S2_LAND_BANDS, "resnet18", "conv1", 16), path, {})
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    code, _, err = run_cli(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"),
                         "--encoder", str(path), *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "evaluate").startswith(f"{path}: not a complete encoder file")


# --- index CSVs and id lists given to the commands ------------------------------------------


@pytest.mark.parametrize(
    ("flag", "text", "problem"),
    [("--index", "a,b\n1,2\n", ": not a sensormoco index: missing column(s) ['patch_id', "),
     ("--index", None, ":4: malformed index row (float() argument must be a string or a "
                       "real number, not 'NoneType')"),
     ("--index", "\xff", ": cannot read index ("),
     ("--ids", "ROIs1158_spring_1_p1\nhello world\n",
      ":2: not a SEN12MS patch id or file name: 'hello world'"),
     ("--ids", "\xfe\xff", ": cannot read id list (")],
)  # fmt: skip
def test_bad_index_or_id_list_is_one_line(
    tree: Path, tmp_path: Path, capsys: Capsys, flag: str, text: str | None, problem: str
) -> None:
    path = tmp_path / "given"
    if text is None:  # a real index with its last row cut short
        assert main(["index", "sen12ms", str(tree), "-o", str(path)]) == 0
        lines = path.read_text().splitlines()
        path.write_text("\n".join([*lines[:-1], lines[-1][:30]]) + "\n")
    else:
        path.write_bytes(text.encode("latin-1"))
    capsys.readouterr()
    code, _, err = run_cli(["labels", "sen12ms", str(tree), flag, str(path), "-o",
                         str(tmp_path / "l.csv")], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "labels").startswith(f"{path}{problem}")


def test_index_csv_with_a_huge_field(tree: Path, tmp_path: Path, capsys: Capsys) -> None:
    index = tmp_path / "index.csv"
    assert main(["index", "sen12ms", str(tree), "-o", str(index)]) == 0
    index.write_text(index.read_text() + "x" * 200_000 + "\n")
    capsys.readouterr()
    code, _, err = run_cli(["labels", "sen12ms", str(tree), "--index", str(index), "-o",
                         str(tmp_path / "l.csv")], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "labels").startswith(f"{index}:")


def test_labels_csv_with_a_huge_field(synth_root: Path, tmp_path: Path, capsys: Capsys) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("patch_id,single,multi\n" + "x" * 200_000 + "\n")
    code, _, err = run_cli(["evaluate", "--data", str(synth_root), "--out", str(tmp_path / "ev"),
                         "--labels", str(labels), *EVAL_FAST], capsys)  # fmt: skip
    assert code == 2
    assert one_error(err, "evaluate").startswith(f"{labels}:")


def test_bigearthnet_json_nested_too_deep(tmp_path: Path) -> None:
    _scan_with_bad_json(tmp_path, "[" * 100_000 + "]" * 100_000)


def test_bigearthnet_json_with_a_huge_integer(tmp_path: Path) -> None:
    _scan_with_bad_json(tmp_path, '{"labels": [], "x": ' + "1" * 5000 + "}")


def _scan_with_bad_json(tmp_path: Path, text: str) -> None:
    """Two pairs, the first S1 JSON replaced by ``text``: one skipped, one paired."""
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    bad, _ = write_pair(s1, s2, 1)
    write_pair(s1, s2, 2)
    json_file = bad / f"{bad.name}_labels_metadata.json"
    json_file.write_text(text)
    scan = scan_pairs(s1, s2)
    assert len(scan.records) == 1
    assert [p.source for p in scan.problems] == [str(json_file)]
    assert len(str(scan.problems[0]).splitlines()) == 1


def test_bigearthnet_scan_skips_unreadable_json(tmp_path: Path) -> None:
    """The common JSON faults are skipped and counted (contrast with the xfails above)."""
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    folders = [write_pair(s1, s2, tile)[0] for tile in (1, 2, 3, 4)]
    for folder, text in zip(folders, ["{", "[1, 2]", '{"labels": "Pastures"}'], strict=False):
        (folder / f"{folder.name}_labels_metadata.json").write_text(text)
    scan = scan_pairs(s1, s2)
    assert len(scan.records) == 1
    assert scan.summary() == "4 S1 folder(s): 1 paired, 3 skipped (json: 3)"
    assert all(len(str(p).splitlines()) == 1 for p in scan.problems)
