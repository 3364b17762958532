"""The argument parser of every command: defaults in ``--help``, suggestions for typos, and
old spellings that keep working with a one-line deprecation notice.

Python 3.14's ``suggest_on_error`` does part of this; on 3.10-3.13 a mistyped flag is matched
with :mod:`difflib` against the flags of the (sub)command it was given to.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows each flag's default (not for switches and flags without one)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or default is None
            or default is False
            or default is argparse.SUPPRESS
            or not action.option_strings
            or default == []
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"  # text: a format string

    def _format_action_invocation(self, action: argparse.Action) -> str:
        old = _deprecated(action)
        if not old:
            return super()._format_action_invocation(action)
        shown = argparse.Action(
            [s for s in action.option_strings if s not in old],
            action.dest,
            action.nargs,
            metavar=action.metavar,
        )
        return super()._format_action_invocation(shown)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that suggests close flags and choices for mistyped ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self._given: list[str] = []
        # (dest, flag dest, how to give it): a positional that may instead be given as a flag
        self.pairs: list[tuple[str, str, str]] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        command = self._command(parsed)
        command.warn_deprecated()
        if extras:  # report them from the (sub)command they were given to, with suggestions
            command.error(f"unrecognized arguments: {' '.join(extras)}")
        for dest, flag_dest, how in command.pairs:
            positional, flag = getattr(parsed, dest), getattr(parsed, flag_dest)
            if positional is not None and flag is not None and positional != flag:
                command.error(f"give {how}, not both")
            if positional is None and flag is None:
                command.error(f"the following arguments are required: {how}")
            setattr(parsed, dest, positional if positional is not None else flag)
            delattr(parsed, flag_dest)
        return parsed

    def _command(self, parsed: argparse.Namespace) -> Parser:
        """The innermost (sub)command parser the parsed arguments went through."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = (action.choices or {}).get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, Parser):
                    return chosen._command(parsed)
        return self

    def warn_deprecated(self) -> None:
        """One stderr line per deprecated spelling among the arguments given."""
        old = {k: v for a in self._actions for k, v in _deprecated(a).items()}
        for token in dict.fromkeys(t.split("=", 1)[0] for t in self._given):
            if token in old:
                print(
                    f"sensormoco: {token} is deprecated and will be removed in the next "
                    f"release; use {old[token]}",
                    file=sys.stderr,
                )

    def _flags(self) -> list[str]:
        """The long flags, old spellings left out."""
        return [
            s
            for a in self._actions
            for s in a.option_strings
            if s.startswith("--") and s not in _deprecated(a)
        ]

    def _hints(self, message: str) -> list[str]:
        hints = []
        flags = self._flags()
        for token in self._given:
            name = token.split("=", 1)[0]
            if (
                name.startswith("--")
                and name not in flags
                and not any(f.startswith(name) for f in flags)
            ):
                close = difflib.get_close_matches(name, flags, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{name}: did you mean {close[0]}?")
        match = CHOICE.search(message)
        if match:
            choices = re.findall(r"'([^']*)'", match.group(2))
            close = difflib.get_close_matches(match.group(1), choices, n=1, cutoff=0.6)
            if close:
                hints.append(f"did you mean {close[0]!r}?")
        return hints

    def error(self, message: str) -> NoReturn:
        for action in self._actions:  # name flags by their current spelling
            for old in _deprecated(action):
                message = message.replace(f"/{old}", "")
        hints = self._hints(message)
        super().error("; ".join([message, *hints]))


def deprecate(action: argparse.Action, old: str, new: str) -> argparse.Action:
    """Mark ``old``, one of ``action``'s option strings, as the deprecated spelling of ``new``:
    help hides it, using it prints one notice on stderr."""
    renamed: dict[str, str] = getattr(action, "deprecated", {})
    action.deprecated = renamed | {old: new}  # type: ignore[attr-defined]
    return action


def _deprecated(action: argparse.Action) -> dict[str, str]:
    return dict(getattr(action, "deprecated", {}))


def leaves(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parsers of every (sub)command that takes no further subcommand."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys((action.choices or {}).values()):
                found += leaves(sub)
    return found or [parser]


def add_input(parser: Parser, text: str, metavar: str = "ROOT") -> None:
    """The input folder: positional ``ROOT`` or ``--data ROOT`` (dest ``root``)."""
    parser.add_argument("root", nargs="?", type=Path, metavar=metavar, help=f"{text} (or --data)")
    parser.add_argument("--data", dest="_data", type=Path, metavar=metavar, help=f"{text}")
    parser.pairs.append(("root", "_data", f"{metavar} or --data {metavar}"))


def add_output(
    parser: Parser, text: str, metavar: str, positional: bool = False, old: str | None = "--output"
) -> None:
    """The output: ``-o/--out PATH`` (dest ``out``), or with ``positional`` also a positional
    ``PATH``; ``old`` is a deprecated spelling kept working."""
    names = ["-o", "--out"] + ([old] if old else [])
    if positional:
        parser.add_argument("out", nargs="?", type=Path, metavar=metavar, help=f"{text} (or -o)")
        parser.pairs.append(("out", "_out", f"{metavar} or -o {metavar}"))
    action = parser.add_argument(
        *names,
        dest="_out" if positional else "out",
        type=Path,
        required=not positional,
        metavar=metavar,
        help=text,
    )
    if old:
        deprecate(action, old, "--out")


def add_workers(parser: argparse.ArgumentParser, what: str, metavar: str = "WORKERS") -> None:
    """``--workers N``: processes that scan and read files (``what`` says for what; 0: this
    process). DataLoader processes are ``--loader-workers`` (pretrain)."""
    from sensormoco import defaults

    parser.add_argument(
        "--workers",
        type=int,
        default=defaults.SCAN_WORKERS,
        metavar=metavar,
        help=f"processes {what} (0: this process)",
    )


def folder_problem(path: Path, what: str = "data directory") -> str | None:
    """Why ``path`` is not an existing folder (None: it is one)."""
    if path.is_file():
        return f"{path}: is a file, not a {what}"
    if not path.is_dir():
        return f"{path}: no such {what}"
    return None


def existing_dir(flag: str, what: str = "data directory") -> Any:
    """An argparse type: an existing folder (a file or a missing path is a one-line error)."""

    def check(text: str) -> Path:
        path = Path(text)
        problem = folder_problem(path, what)
        if problem:
            raise argparse.ArgumentTypeError(problem)
        return path

    check.__name__ = flag
    return check


def existing_file(flag: str) -> Any:
    """An argparse type: an existing file (a folder or a missing path is a one-line error)."""

    def check(text: str) -> Path:
        path = Path(text)
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no such file: {text}")
        return path

    check.__name__ = flag
    return check
