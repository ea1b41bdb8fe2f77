"""Sans-I/O framing of the Keyence MD-series host protocol: one ASCII line per message, CR-terminated.

write   WX,<item>[=<value>][,<item>=<value>]   ->  WX,OK          or  WX,NG,<error code>
read    RX,<item>[=<value>][,<item>]           ->  RX,OK,<value>  or  RX,NG,<error code>
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.marking.errors import FrameError

CR = b"\r"


@dataclass(frozen=True)
class Request:
    kind: str  # WX or RX
    body: str  # e.g. "BLK=1,CharacterString=ABC" or "Ready"

    def encode(self) -> bytes:
        if self.kind not in ("WX", "RX") or "\r" in self.body:
            raise FrameError(f"not a request: {self.kind},{self.body!r}")
        return f"{self.kind},{self.body}".encode("latin-1") + CR


@dataclass(frozen=True)
class Response:
    kind: str  # WX or RX
    ok: bool
    value: str = ""  # RX,OK value, or the NG error code

    def encode(self) -> bytes:
        parts = [self.kind, "OK" if self.ok else "NG"]
        if self.value or (self.kind == "RX" and self.ok) or not self.ok:
            parts.append(self.value)
        return ",".join(parts).encode("latin-1") + CR


class Splitter:
    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf.extend(data)
        lines = []
        while (end := self._buf.find(CR)) >= 0:
            lines.append(bytes(self._buf[:end]))
            del self._buf[: end + 1]
        return lines


def decode_response(line: bytes) -> Response:
    text = line.decode("latin-1")
    kind, _, rest = text.partition(",")
    status, _, value = rest.partition(",")
    if kind not in ("WX", "RX") or status not in ("OK", "NG"):
        raise FrameError(f"not a Keyence response: {text!r}")
    if status == "NG" and not (value.isdigit() and value):
        raise FrameError(f"NG without a numeric error code: {text!r}")
    if kind == "WX" and status == "OK" and value:
        raise FrameError(f"WX,OK with trailing data: {text!r}")
    return Response(kind, status == "OK", value)


def decode_request(line: bytes) -> Request:
    text = line.decode("latin-1")
    kind, sep, body = text.partition(",")
    if kind not in ("WX", "RX") or not sep or not body:
        raise FrameError(f"not a Keyence request: {text!r}")
    return Request(kind, body)
