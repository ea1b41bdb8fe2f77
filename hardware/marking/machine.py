"""The one interface every marking machine driver (and simulator) implements."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from hardware.marking.job import MarkJob


@dataclass(frozen=True)
class MachineStatus:
    ready: bool  # accepts a job and a start command now
    marking: bool  # a mark is in progress
    error: str | None = None  # the machine's own error code while it is in error


@runtime_checkable
class MarkingMachine(Protocol):
    """Load fields, read them back, mark, and report. Every method raises a `MachineError` on failure.

    Marks are irreversible: callers load, read back and compare *before* `mark`, and read back again after.
    """

    name: str

    def status(self) -> MachineStatus: ...

    def load(self, job: MarkJob) -> None:
        """Select the job's program (layout) and write every field's text into the machine."""

    def read_fields(self, numbers: Iterable[int]) -> dict[int, str]:
        """The text the machine holds for each field number, as the machine reports it."""

    def mark(self, *, timeout: float) -> None:
        """Start marking and wait until it ends; raises MarkFailed / Timeout / Disconnected."""

    def abort(self) -> None: ...

    def clear_error(self) -> None: ...

    def close(self) -> None: ...
