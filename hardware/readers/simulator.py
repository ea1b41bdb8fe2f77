"""Simulated code readers: a presentation-mode scanner on a pty pair (it types a line for every code put in
front of it) and triggered readers (Keyence SR `LON`, Cognex DataMan `||>TRIGGER ON`) served with the
marking simulators' pty/TCP servers."""

from __future__ import annotations

import os
import tty
from collections import deque
from dataclasses import dataclass, field


class PtyScanner:
    """A scanner in presentation mode on the master side of a pty pair; the host opens `path`."""

    def __init__(self, *, terminator: bytes = b"\r\n") -> None:
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.path = os.ttyname(self._slave)
        self._terminator = terminator

    def present(self, code: str) -> None:
        """A code comes into view: the scanner sends it, bytes as they are, then its terminator."""
        os.write(self._master, code.encode("latin-1") + self._terminator)

    def close(self) -> None:
        os.close(self._master)
        os.close(self._slave)


@dataclass
class TriggeredReaderSim:
    """Answers a trigger with the next code in view, or the dialect's no-read answer."""

    dialect: str  # keyence-sr or dmcc
    codes: deque[str] = field(default_factory=deque)
    silent: bool = False  # never answers (a hung reader)
    requests: list[bytes] = field(default_factory=list)
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def split(self) -> bool:
        return False

    def take_link_drop(self) -> bool:
        return False

    def feed(self, data: bytes) -> bytes:
        self._buf.extend(data)
        out = b""
        while (end := self._buf.find(b"\r")) >= 0:
            line = bytes(self._buf[:end]).strip(b"\n")
            del self._buf[: end + 1]
            self.requests.append(line)
            out += self._answer(line)
        return out

    def _answer(self, line: bytes) -> bytes:
        if self.silent:
            return b""
        code = self.codes.popleft().encode("latin-1") if self.codes else None
        if self.dialect == "keyence-sr":
            if line == b"LOFF":
                return b""
            if line != b"LON":
                return b"ER," + line[:4] + b",00\r"
            return (code or b"ERROR") + b"\r"
        if line != b"||>TRIGGER ON":
            return b"||>ERROR\r\n"
        return (code or b"NO-READ") + b"\r\n"
