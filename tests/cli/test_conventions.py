"""One command-line convention: the same concept has the same flag in every command, help shows
defaults, typos get suggestions, old spellings still work, and README's flag claims are true."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

import pytest

from sensormoco.cli import evaluate_flags, pretrain
from sensormoco.cli.main import build_parser, main
from sensormoco.cli.parser import leaves

ROOT = Path(__file__).parents[2]
# dest of an argument -> the one flag spelling every command uses for that concept
CONCEPTS = {
    "_data": ["--data"], "data": ["--data"], "out": ["-o", "--out"], "_out": ["-o", "--out"],
    "subset": ["--ids"], "ids": ["--ids"], "index": ["--index"], "index_csv": ["--index"],
    "workers": ["--workers"], "num_workers": ["--loader-workers"], "seeds": ["--seeds"],
    "labels_csv": ["--labels"], "quiet": ["-q", "--quiet"], "resume": ["--resume"],
}  # fmt: skip


def _commands() -> dict[str, argparse.ArgumentParser]:
    return {leaf.prog.removeprefix("sensormoco "): leaf for leaf in leaves(build_parser())}


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings
            if s not in getattr(a, "deprecated", {})}  # fmt: skip


def test_every_command_spells_a_concept_the_same_way() -> None:
    seen: dict[str, set[str]] = {}
    for name, parser in _commands().items():
        for action in parser._actions:
            shown = [s for s in action.option_strings if s not in getattr(action, "deprecated", {})]
            if action.dest in CONCEPTS and shown:
                assert shown == CONCEPTS[action.dest], (name, action.dest, shown)
            for flag in shown:
                seen.setdefault(flag, set()).add(action.dest.lstrip("_"))
    # and no flag means two things: --workers is always file-reading processes
    assert seen["--workers"] == {"workers"}
    assert seen["--data"] == {"data"}
    assert seen["--encoder"] == {"encoder"}  # an encoder file; pretrain's kind is --encoder-kind
    assert "--encoder" not in _flags(_commands()["pretrain"])
    for old in ("--output", "--subset"):
        assert old not in seen


def test_old_spellings_work_with_a_one_line_notice(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["pretrain", "--data", ".", "--out", "x", "--subset",
                                      str(ROOT / "README.md"), "--workers", "3"])  # fmt: skip
    assert (str(args.subset), args.num_workers) == (str(ROOT / "README.md"), 3)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "sensormoco: --subset is deprecated and will be removed in the next release; use --ids",
        "sensormoco: --workers is deprecated and will be removed in the next release; use "
        "--loader-workers",
    ]
    args = build_parser().parse_args(["index", "sen12ms", ".", "--output", "i.csv"])
    assert str(args.out) == "i.csv"
    assert str(args.root) == "."
    args = build_parser().parse_args(["index", "sen12ms", "--data", ".", "-o", "i.csv"])
    assert str(args.root) == "."
    assert "deprecated" in capsys.readouterr().err


def test_help_shows_the_defaults() -> None:
    text = " ".join(_commands()["evaluate"].format_help().split())
    for shown in ("(default: linear)", "(default: s2)", "(default: 1024)", "(default: 0 1 2)",
                  "(default: 30)", "(default: resnet50)"):  # fmt: skip
        assert shown in text
    assert "4096" not in text  # the budget's help states its real range
    pretrain_help = " ".join(_commands()["pretrain"].format_help().split())
    assert "(default: its cores less one)" in pretrain_help


def test_evaluate_flags_are_its_config_fields_with_their_defaults() -> None:
    from sensormoco.evaluation.run import EvalConfig
    from sensormoco.evaluation.variants import VARIANTS

    fields = {f.name: f.default for f in dataclasses.fields(EvalConfig)}
    flagged = {field for field, *_ in evaluate_flags.FLAGS.values()} | {"data"}
    assert flagged == set(fields)
    for key, value in evaluate_flags.DEFAULTS.items():
        assert fields[key] == value, key
    assert evaluate_flags.VARIANT_CHOICES == VARIANTS


def test_pretrain_defaults_shown_are_the_configs() -> None:
    from sensormoco.training.config import PretrainConfig

    fields = {f.name: f.default for f in dataclasses.fields(PretrainConfig)}
    for key, value in pretrain.DEFAULTS.items():
        assert fields[key] == value, key


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["index", "sen12ms", ".", "--ouput", "x"], "--ouput: did you mean --out?"),
        (["pretrain", "--data", ".", "--out", "x", "--maxsteps", "3"],
         "--maxsteps: did you mean --max-steps?"),
        (["evalute"], "did you mean 'evaluate'?"),
    ],
)  # fmt: skip
def test_typos_get_a_suggestion(argv: list[str], hint: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert hint in capsys.readouterr().err


def _readme_flag_table() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- flags -->", 1)[1].split("\n\n", 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        flag = re.findall(r"--[\w-]+", cells[0])[0]
        rows.append((flag, re.findall(r"`(\w[\w ]*)`", cells[2])))
    return rows


def test_readme_flag_claims_hold() -> None:
    commands = _commands()
    rows = _readme_flag_table()
    assert {f for f, _ in rows} >= {"--data", "--out", "--ids", "--index", "--workers"}
    for flag, names in rows:
        having = {n for n, p in commands.items() if flag in _flags(p)}
        named = {n if n in commands else f"{n} sen12ms" for n in names}
        assert having == named, (flag, having ^ named)
    text = (ROOT / "README.md").read_text()
    for line in text.splitlines():  # the command table's synopses name real flags
        for synopsis in re.findall(r"`(sensormoco [^`]*)`", line):
            words = synopsis.split()
            name = next((n for n in sorted(commands, key=len, reverse=True)
                         if " ".join(words[1:]).startswith(n)), None)  # fmt: skip
            if name is None:
                continue
            for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", synopsis):
                assert flag in _flags(commands[name]), (synopsis, flag)
