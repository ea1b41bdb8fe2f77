"""What can go wrong talking to a marking machine. The station turns each into an operator alert."""

from __future__ import annotations


class MachineError(Exception):
    """Base: the machine refused, failed, or could not be understood."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class FrameError(MachineError):
    """A frame that does not decode: bad checksum, unknown reply, bytes outside a frame (a garbled line)."""


class Refused(MachineError):
    """The machine answered with a negative acknowledgement (NAK / NG) and its error code."""


class Busy(MachineError):
    """The machine is not ready (marking, door open, not in remote mode)."""


class Timeout(MachineError):
    """No complete answer in time: a cable, a baud rate, or a hung controller."""


class Disconnected(MachineError):
    """The link closed (TCP reset, USB serial adapter unplugged)."""


class MarkFailed(MachineError):
    """The machine reports the marking ended in error, or it was aborted."""
