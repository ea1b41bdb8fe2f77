"""Barcode / 2D readers that send each read as one line, over any marking transport (serial, USB-CDC, TCP).

Every reader returns the exact text of a read (bytes as latin-1 characters), so the RS/GS/EOT separators
of an ISO/IEC 15434 payload survive. Prefer these modes to keyboard wedge, which loses them.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from hardware.marking.errors import FrameError, Refused, Timeout
from hardware.marking.transport import SerialTransport, TcpTransport, Transport


@runtime_checkable
class CodeReader(Protocol):
    name: str

    def read(self, timeout: float) -> str | None:
        """The next read, or None if nothing was read within `timeout` seconds."""

    def close(self) -> None: ...


class _Lines:
    """CR- or CRLF-terminated lines from a transport."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport
        self._buf = bytearray()

    def next(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while (end := self._buf.find(b"\r")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._buf.extend(self._t.read(remaining))
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        if self._buf[:1] == b"\n":
            del self._buf[:1]
        return line.lstrip(b"\n")


class LineScanner:
    """A scanner in continuous / presentation mode: it sends a line whenever it reads a code."""

    def __init__(self, transport: Transport, *, name: str = "line-scanner") -> None:
        self.name = name
        self._t = transport
        self._lines = _Lines(transport)

    def read(self, timeout: float) -> str | None:
        line = self._lines.next(timeout)
        return None if line is None else line.decode("latin-1")

    def close(self) -> None:
        self._t.close()


class KeyenceSR:
    """Keyence SR series: `LON` triggers a read, the reply is the data or `ERROR` (no code); `LOFF` stops."""

    def __init__(self, transport: Transport, *, name: str = "keyence-sr") -> None:
        self.name = name
        self._t = transport
        self._lines = _Lines(transport)

    def read(self, timeout: float) -> str | None:
        self._t.write(b"LON\r")
        line = self._lines.next(timeout)
        if line is None:
            self._t.write(b"LOFF\r")  # end the reading window; the reader answers nothing or OK
            self._lines.next(0.2)
            return None
        if line.startswith(b"ER,"):
            raise Refused(
                f"reader error {line.decode('latin-1')}", code=line.split(b",")[-1].decode("latin-1")
            )
        if line == b"ERROR":
            return None
        return line.decode("latin-1")

    def close(self) -> None:
        self._t.close()


class DataManDMCC:
    """Cognex DataMan over DMCC (TCP port 23 or serial): `||>TRIGGER ON` then the read result line."""

    def __init__(self, transport: Transport, *, name: str = "dataman") -> None:
        self.name = name
        self._t = transport
        self._lines = _Lines(transport)

    def read(self, timeout: float) -> str | None:
        self._t.write(b"||>TRIGGER ON\r\n")
        line = self._lines.next(timeout)
        if line is None:
            raise Timeout(f"no result from the DataMan within {timeout:g} s")
        if line.startswith(b"||>"):
            raise FrameError(f"unexpected DMCC response {line!r}")
        return None if line == b"NO-READ" else line.decode("latin-1")

    def close(self) -> None:
        self._t.close()


def open_reader(spec: str) -> CodeReader:
    """`line:/dev/ttyACM0` (or line:tcp://HOST:PORT), `keyence-sr:tcp://HOST:PORT`, `dmcc:tcp://HOST:23`,
    each also on a serial port path."""
    kind, sep, target = spec.partition(":")
    kinds = {"line": LineScanner, "keyence-sr": KeyenceSR, "dmcc": DataManDMCC}
    if kind not in kinds or not sep or not target:
        raise ValueError(
            f"reader {spec!r} is not one of line:PORT, keyence-sr:tcp://HOST:PORT, dmcc:tcp://HOST:PORT"
        )
    if target.startswith("tcp://"):
        parts = urlsplit(target)
        if not parts.hostname or not parts.port:
            raise ValueError(f"{target!r}: give tcp://HOST:PORT")
        transport: Transport = TcpTransport(parts.hostname, parts.port)
    else:
        transport = SerialTransport(target)
    return kinds[kind](transport, name=spec)
