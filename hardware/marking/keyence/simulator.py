"""A simulated Keyence MD-series marker speaking the driver's own codec."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hardware.marking.errors import FrameError
from hardware.marking.keyence.codec import Request, Response, Splitter, decode_request
from hardware.marking.simulator import SimMachine, SimRefusal, garble

NG_FOR = {"wrong_state": "003", "bad_data": "002", "alarm": "010", "syntax": "001"}
BLOCK = re.compile(r"^BLK=(\d+),CharacterString(?:=(.*))?$", re.S)


@dataclass
class KeyenceSim:
    machine: SimMachine
    lines: list[bytes] = field(default_factory=list)
    _split: Splitter = field(default_factory=Splitter)

    @property
    def split(self) -> bool:
        return self.machine.faults.split

    def take_link_drop(self) -> bool:
        return self.machine.take_link_drop()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._one(line) for line in self._split.feed(data))

    def _one(self, line: bytes) -> bytes:
        self.lines.append(line)
        try:
            req = decode_request(line)
        except FrameError:
            return Response("WX", False, NG_FOR["syntax"]).encode()
        op = _operation(req)
        fault = self.machine.fault(op)
        if fault == "silent":
            return b""
        if fault and fault.startswith("nak:"):
            resp = Response(req.kind, False, NG_FOR[fault[4:]])
        else:
            try:
                resp = Response(req.kind, True, self._execute(req))
            except SimRefusal as exc:
                resp = Response(req.kind, False, NG_FOR[exc.reason])
            except ValueError:
                resp = Response(req.kind, False, NG_FOR["bad_data"])
        out = resp.encode()
        return garble(out) if fault == "garble" else out

    def _execute(self, req: Request) -> str:
        m = self.machine
        block = BLOCK.match(req.body)
        if req.kind == "WX" and req.body.startswith("ProgramNo="):
            m.select_program(int(req.body.split("=", 1)[1]))
        elif block and req.kind == "WX" and block.group(2) is not None:
            m.set_field(int(block.group(1)), block.group(2))
        elif block and req.kind == "RX" and block.group(2) is None:
            return m.get_field(int(block.group(1)))
        elif (req.kind, req.body) == ("RX", "Ready"):
            return "2" if m.marking else str(int(m.ready))
        elif (req.kind, req.body) == ("RX", "Error"):
            return (m.error or "000").lstrip("E").zfill(3)
        elif (req.kind, req.body) == ("WX", "StartMarking"):
            m.start()
        elif (req.kind, req.body) == ("WX", "StopMarking"):
            m.stop()
        elif (req.kind, req.body) == ("WX", "ErrorClear"):
            m.clear()
        else:
            raise SimRefusal("bad_data")
        return ""


def _operation(req: Request) -> str:
    body = req.body
    if body.startswith(("ProgramNo", "BLK")):
        return "load" if req.kind == "WX" else "read"
    return {
        "Ready": "status",
        "Error": "status",
        "StartMarking": "mark",
        "StopMarking": "abort",
        "ErrorClear": "clear",
    }.get(body, "other")
