"""The project's exception types: every message is one line naming the input and the problem."""

from __future__ import annotations

from pathlib import Path


class SensormocoError(Exception):
    """Base class of errors the command line reports as a one-line message."""


class DataError(SensormocoError, ValueError):
    """An input file or directory is missing, malformed or inconsistent."""

    def __init__(self, source: str | Path, problem: str, kind: str = "invalid") -> None:
        self.source = str(source)
        self.problem = problem
        self.kind = kind  # a short category for summaries: "missing", "unreadable", "dtype", ...
        super().__init__(f"{self.source}: {problem}")

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str, str]]:
        # picklable across process pools (the default would call DataError(message))
        return (type(self), (self.source, self.problem, self.kind))
