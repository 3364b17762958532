"""``python -m sensormoco.cli.reference > docs/cli.md``: the command-line reference, the
``--help`` of every (sub)command at a fixed width (a test keeps docs/cli.md equal to it)."""

from __future__ import annotations

import os

from sensormoco.cli.main import build_parser
from sensormoco.cli.parser import leaves

WIDTH = 100  # columns argparse wraps the help to


def reference() -> str:
    """The markdown of docs/cli.md."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)  # argparse reads it when each help is formatted
    try:
        parser = build_parser()
        lines = [
            "# Command-line reference",
            "",
            "Generated from `sensormoco COMMAND --help` (every command has it) by "
            "`python -m sensormoco.cli.reference > docs/cli.md`.",
            "",
        ]
        command = None
        for leaf in leaves(parser):
            name = leaf.prog.split()[1]
            if name != command:
                lines += [f"## sensormoco {name}", ""]
                command = name
            lines += ["```", leaf.format_help().rstrip(), "```", ""]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference(), end="")
