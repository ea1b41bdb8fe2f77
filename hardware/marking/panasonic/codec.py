"""Sans-I/O framing of the Panasonic LP-series host protocol: bytes in, frames out, and back.

    command      STX + 3-letter command + S (set) / R (read) + data [+ checksum] + CR
    positive     ACK + "00" [+ checksum] + CR
    read reply   STX + command + A + data [+ checksum] + CR
    negative     NAK + 2-digit code [+ checksum] + CR   (03 wrong state, 05 checksum, 09 bad data, 10 alarm)

The checksum (serial links) is the low byte of the sum of every byte before it, STX/ACK/NAK included,
written as two upper-case hex digits; the manual's examples are the test vectors in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.marking.errors import FrameError

STX, ACK, NAK, CR = b"\x02", b"\x06", b"\x15", b"\r"
STARTS = (STX[0], ACK[0], NAK[0])

NAK_WRONG_STATE = "03"
NAK_CHECKSUM = "05"
NAK_BAD_DATA = "09"
NAK_ALARM = "10"
NAK_MEANING = {
    NAK_WRONG_STATE: "command not accepted in the machine's present state",
    NAK_CHECKSUM: "checksum error",
    NAK_BAD_DATA: "data out of range or malformed",
    NAK_ALARM: "the machine is in alarm",
}


def checksum(data: bytes) -> bytes:
    return f"{sum(data) & 0xFF:02X}".encode("ascii")


def _finish(body: bytes, with_checksum: bool) -> bytes:
    if CR in body[1:]:
        raise FrameError("a carriage return inside a frame would end it early")
    return body + (checksum(body) if with_checksum else b"") + CR


@dataclass(frozen=True)
class Command:
    name: str  # three letters, e.g. STR
    mode: str  # S set, R read
    data: str = ""

    def encode(self, *, with_checksum: bool = True) -> bytes:
        if len(self.name) != 3 or not self.name.isalpha() or self.mode not in ("S", "R"):
            raise FrameError(f"not a command: {self.name!r} {self.mode!r}")
        return _finish(STX + f"{self.name}{self.mode}{self.data}".encode("latin-1"), with_checksum)


@dataclass(frozen=True)
class Ack:
    def encode(self, *, with_checksum: bool = True) -> bytes:
        return _finish(ACK + b"00", with_checksum)


@dataclass(frozen=True)
class Nak:
    code: str

    def encode(self, *, with_checksum: bool = True) -> bytes:
        return _finish(NAK + self.code.encode("ascii"), with_checksum)


@dataclass(frozen=True)
class ReadReply:
    name: str
    data: str

    def encode(self, *, with_checksum: bool = True) -> bytes:
        return _finish(STX + f"{self.name}A{self.data}".encode("latin-1"), with_checksum)


Reply = Ack | Nak | ReadReply


class Splitter:
    """Cuts a byte stream into frames at CR, whatever the chunking (split frames, several per read)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        frames = []
        while (end := self._buf.find(CR)) >= 0:
            frames.append(bytes(self._buf[: end + 1]))
            del self._buf[: end + 1]
        return frames

    @property
    def pending(self) -> bytes:
        return bytes(self._buf)


def _body(frame: bytes, with_checksum: bool) -> bytes:
    if not frame.endswith(CR) or not frame or frame[0] not in STARTS:
        raise FrameError(f"not a frame (no STX/ACK/NAK start or CR end): {frame!r}")
    body = frame[:-1]
    if not with_checksum:
        return body
    if len(body) < 3:
        raise FrameError(f"frame too short for a checksum: {frame!r}")
    body, got = body[:-2], body[-2:]
    if checksum(body) != got:
        raise FrameError(
            f"checksum {got.decode('latin-1')!r} does not match {checksum(body).decode()!r}",
            code=NAK_CHECKSUM,
        )
    return body


def decode_reply(frame: bytes, *, with_checksum: bool = True) -> Reply:
    body = _body(frame, with_checksum)
    text = body[1:].decode("latin-1")
    if body[:1] == ACK:
        if text != "00":
            raise FrameError(f"ACK with unexpected data {text!r}")
        return Ack()
    if body[:1] == NAK:
        if len(text) != 2 or not text.isdigit():
            raise FrameError(f"NAK with a malformed code {text!r}")
        return Nak(text)
    if len(text) < 4 or text[3] != "A":
        raise FrameError(f"read reply without 'A' after the command: {text!r}")
    return ReadReply(text[:3], text[4:])


def decode_command(frame: bytes, *, with_checksum: bool = True) -> Command:
    body = _body(frame, with_checksum)
    text = body[1:].decode("latin-1")
    if body[:1] != STX or len(text) < 4 or not text[:3].isalpha() or text[3] not in ("S", "R"):
        raise FrameError(f"not a command frame: {frame!r}", code=NAK_BAD_DATA)
    return Command(text[:3], text[3], text[4:])
