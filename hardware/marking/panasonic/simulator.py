"""A simulated Panasonic LP-series marker: the driver's own codec on the machine side of the link."""

from __future__ import annotations

from dataclasses import dataclass, field

from hardware.marking.errors import FrameError
from hardware.marking.panasonic.codec import (
    NAK_ALARM,
    NAK_BAD_DATA,
    NAK_CHECKSUM,
    NAK_WRONG_STATE,
    Ack,
    Command,
    Nak,
    ReadReply,
    Splitter,
    decode_command,
)
from hardware.marking.simulator import SimMachine, SimRefusal, garble

NAK_FOR = {
    "wrong_state": NAK_WRONG_STATE,
    "bad_data": NAK_BAD_DATA,
    "alarm": NAK_ALARM,
    "checksum": NAK_CHECKSUM,
}
OPERATION = {
    "FNOS": "load",
    "STRS": "load",
    "STRR": "read",
    "STSR": "status",
    "MRKS": "mark",
    "MSTR": "status",
    "ERCS": "clear",
}


@dataclass
class PanasonicSim:
    machine: SimMachine
    with_checksum: bool = True
    frames: list[bytes] = field(default_factory=list)  # every request received, for tests
    _split: Splitter = field(default_factory=Splitter)

    @property
    def split(self) -> bool:
        return self.machine.faults.split

    def take_link_drop(self) -> bool:
        return self.machine.take_link_drop()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._one(frame) for frame in self._split.feed(data))

    def _one(self, frame: bytes) -> bytes:
        self.frames.append(frame)
        try:
            cmd = decode_command(frame, with_checksum=self.with_checksum)
        except FrameError as exc:
            return Nak(exc.code or NAK_CHECKSUM).encode(with_checksum=self.with_checksum)
        op = OPERATION.get(cmd.name + cmd.mode, "other")
        if cmd.name == "MRK" and cmd.data == "0":
            op = "abort"
        fault = self.machine.fault(op)
        if fault == "silent":
            return b""
        if fault and fault.startswith("nak:"):
            reply: Ack | Nak | ReadReply = Nak(NAK_FOR[fault[4:]])
        else:
            try:
                reply = self._execute(cmd)
            except SimRefusal as exc:
                reply = Nak(NAK_FOR[exc.reason])
            except ValueError:
                reply = Nak(NAK_BAD_DATA)
        out = reply.encode(with_checksum=self.with_checksum)
        return garble(out) if fault == "garble" else out

    def _execute(self, cmd: Command) -> Ack | Nak | ReadReply:
        m = self.machine
        key = cmd.name + cmd.mode
        if key == "FNOS":
            m.select_program(int(cmd.data))
        elif key == "STRS":
            m.set_field(int(cmd.data[:2]), cmd.data[2:])
        elif key == "STRR":
            return ReadReply("STR", cmd.data[:2] + m.get_field(int(cmd.data[:2])))
        elif key == "STSR":
            flags = f"{int(m.ready)}{int(m.marking)}{int(m.error is not None)}"
            return ReadReply("STS", flags + (m.error or ""))
        elif key == "MSTR":
            return ReadReply("MST", m.error or "0000")
        elif key == "MRKS" and cmd.data == "1":
            m.start()
        elif key == "MRKS" and cmd.data == "0":
            m.stop()
        elif key == "ERCS":
            m.clear()
        else:
            raise SimRefusal("bad_data")
        return Ack()
