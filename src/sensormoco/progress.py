"""Progress of the long steps (scan, labels, pack, pre-training, feature extraction, fitting).

On stderr. A terminal gets a bar redrawn in place (done / total, rate, ETA) ending at 100 %;
anything else (a file, a SLURM log) gets one plain line every tenth of the work (and at least
every ``defaults.PROGRESS_SECONDS``), never joined redraw frames. Every step ends with a one-line
summary (count, time, rate). ``set_quiet(True)`` (``--quiet``) silences all but errors.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

from sensormoco import defaults

T = TypeVar("T")
_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress line and summary of this process."""
    _state["quiet"] = quiet


def is_quiet() -> bool:
    return _state["quiet"]


def _rate_text(rate: float) -> str:
    return f"{rate:.0f}" if rate >= 100 else f"{rate:.1f}" if rate >= 1 else f"{rate:.2g}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """The progress of one step of ``total`` units (None: unknown); call :meth:`update` as work
    is done and :meth:`close` at the end (or use it as a context manager). ``initial``: units
    done before (a resumed run), not counted in the rate."""

    def __init__(
        self,
        label: str,
        total: int | None,
        unit: str = "patches",
        stream: TextIO | None = None,
        initial: int = 0,
    ) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream if stream is not None else sys.stderr
        self.done = self.initial = initial
        self.start = time.perf_counter()
        self._shown_at = -1.0
        self._next_line = max(1, (total or 0) // 10)  # the first line at a tenth: a real rate
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.closed = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.close(ok=kind is None)

    def _rate(self) -> float:
        elapsed = time.perf_counter() - self.start
        return (self.done - self.initial) / elapsed if elapsed > 0 else 0.0

    def _status(self) -> str:
        rate = self._rate()
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            shown = "?" if eta != eta else _duration(eta)
            return (
                f"{self.label}: {100 * self.done // self.total:3d}% "  # 100 % only when done
                f"{self.done}/{self.total} {self.unit}, {_rate_text(rate)} {self.unit}/s, "
                f"ETA {shown}"
            )
        return f"{self.label}: {self.done} {self.unit}, {_rate_text(rate)} {self.unit}/s"

    def update(self, n: int = 1) -> None:
        self.done += n
        if is_quiet():
            return
        now = time.perf_counter()
        if self.tty:
            if now - self._shown_at >= 0.2:
                self.stream.write("\r\x1b[K" + self._status())
                self.stream.flush()
                self._shown_at = now
            return
        if now - self.start < defaults.PROGRESS_QUIET_SECONDS:
            return  # a short step: its summary line says enough
        step = max(1, (self.total or 0) // 10)
        since = now - (self.start if self._shown_at < 0 else self._shown_at)
        due = self.done >= self._next_line or since >= defaults.PROGRESS_SECONDS
        if due and (self.total is None or self.done < self.total):
            self.stream.write(self._status() + "\n")
            self.stream.flush()
            self._shown_at = now
            self._next_line = (self.done // step + 1) * step

    def close(self, ok: bool = True, summary: str | None = None) -> None:
        """End the step: its one-line summary (``summary`` appended), or nothing if it failed."""
        if self.closed:
            return
        self.closed = True
        if is_quiet():
            return
        if self.tty:
            self.stream.write("\r\x1b[K")
        if ok:
            elapsed = time.perf_counter() - self.start
            extra = f"; {summary}" if summary else ""
            self.stream.write(
                f"{self.label}: {self.done - self.initial} {self.unit} in "
                f"{_duration(elapsed)} "
                f"({_rate_text(self._rate())} {self.unit}/s){extra}\n"
            )
        self.stream.flush()


def track(
    items: Iterable[T],
    label: str,
    total: int | None = None,
    unit: str = "patches",
    stream: TextIO | None = None,
) -> Iterator[T]:
    """Yield ``items`` while showing their progress; the summary line follows the last one."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    progress = Progress(label, total, unit, stream)
    ok = False
    try:
        for item in items:
            yield item
            progress.update()
        ok = True
    finally:
        progress.close(ok)
