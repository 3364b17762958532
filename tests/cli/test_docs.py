"""The command-line reference and the shipped experiment configs stay in step with the code."""

from __future__ import annotations

from pathlib import Path

from sensormoco.cli.main import COMMANDS, build_parser
from sensormoco.experiments.matrix import load_experiment

ROOT = Path(__file__).parents[2]


def test_cli_reference_covers_every_command() -> None:
    text = (ROOT / "docs" / "cli.md").read_text()
    action = build_parser()._subparsers._group_actions[0]  # type: ignore[union-attr]
    names = list(action.choices or {})
    assert len(names) == len(COMMANDS)
    for name in names:
        assert f"## sensormoco {name}\n" in text


def test_paper_experiment_config_parses() -> None:
    exp = load_experiment(ROOT / "configs" / "paper" / "sen12ms.yaml")
    assert len(exp.modes) == 6
    assert exp.budgets == (1024, None)
    assert {c.subset for c in exp.pretrain_cells()} == {"full", "nonoverlapping"}


def test_cli_reference_is_the_generated_one() -> None:
    """docs/cli.md is what ``python -m sensormoco.cli.reference`` prints (rerun it after a
    change to a parser)."""
    from sensormoco.cli.reference import reference

    assert (ROOT / "docs" / "cli.md").read_text() == reference()
