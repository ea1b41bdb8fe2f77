"""Panasonic LP-series driver over any `Transport` (serial with checksums, or TCP without).

Commands used: FNO (file number), STR (character string No. 01-50, at most 60 characters), STS (status),
MRK (start / stop marking), MST (marking-end report, 0000 or an Exxx code), ERC (clear error). FNO, STR,
STS, MRK and MST are named in the LP-GS manual; the data layout of STS and the names MRK-stop and ERC are
what our simulator speaks and must be checked against the manual of the exact model before field use
(docs/hardware.md lists each assumption).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from hardware.marking.errors import Busy, FrameError, MarkFailed, Refused, Timeout
from hardware.marking.job import JobRefused, MarkJob
from hardware.marking.machine import MachineStatus
from hardware.marking.panasonic.codec import (
    NAK_CHECKSUM,
    NAK_MEANING,
    Ack,
    Command,
    Nak,
    ReadReply,
    Reply,
    Splitter,
    decode_reply,
)
from hardware.marking.transport import Transport

MAX_STRINGS = 50
MAX_STRING_LEN = 60
RETRIES = 2
IDEMPOTENT = frozenset({"FNO", "STR", "STS", "MST", "ERC"})  # setting or reading the same value again


class PanasonicLP:
    def __init__(
        self,
        transport: Transport,
        *,
        with_checksum: bool = True,
        reply_timeout: float = 1.0,
        poll_interval: float = 0.02,
        name: str = "panasonic-lp",
    ) -> None:
        self.name = name
        self._t = transport
        self._checksum = with_checksum
        self._reply_timeout = reply_timeout
        self._poll = poll_interval
        self._split = Splitter()

    # -- one exchange --------------------------------------------------------------------------------------
    def _exchange(self, cmd: Command) -> Reply:
        """Send and wait for the reply. A command that is safe to repeat is sent again (up to RETRIES times)
        when line noise garbled the exchange: a reply failing its checksum, or NAK 05 for ours. Starting
        a mark is never repeated: its first copy may have been executed."""
        for attempt in range(RETRIES + 1):
            try:
                return self._once(cmd)
            except (FrameError, Refused) as exc:
                noise = exc.code == NAK_CHECKSUM
                if not (noise and cmd.name in IDEMPOTENT and self._checksum) or attempt == RETRIES:
                    raise
                self._split = Splitter()  # drop any partial frame of the garbled reply
        raise AssertionError("unreachable")

    def _once(self, cmd: Command) -> Reply:
        self._t.write(cmd.encode(with_checksum=self._checksum))
        deadline = time.monotonic() + self._reply_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(f"no reply to {cmd.name}{cmd.mode} within {self._reply_timeout:g} s")
            frames = self._split.feed(self._t.read(remaining))
            if frames:
                if len(frames) > 1:
                    raise FrameError(f"{len(frames)} replies to one command {cmd.name}{cmd.mode}")
                reply = decode_reply(frames[0], with_checksum=self._checksum)
                if isinstance(reply, Nak):
                    meaning = NAK_MEANING.get(reply.code, "unknown code")
                    raise Refused(
                        f"{cmd.name}{cmd.mode} refused: NAK {reply.code} ({meaning})", code=reply.code
                    )
                return reply

    def _set(self, name: str, data: str = "") -> None:
        if not isinstance(self._exchange(Command(name, "S", data)), Ack):
            raise FrameError(f"{name}S answered with data instead of ACK")

    def _read(self, name: str, data: str = "") -> str:
        reply = self._exchange(Command(name, "R", data))
        if not isinstance(reply, ReadReply) or reply.name != name:
            raise FrameError(f"{name}R answered with {reply!r}")
        return reply.data

    # -- MarkingMachine ------------------------------------------------------------------------------------
    def status(self) -> MachineStatus:
        data = self._read("STS")
        if len(data) < 3 or any(c not in "01" for c in data[:3]):
            raise FrameError(f"status flags {data!r} are not three 0/1 digits")
        error = data[3:] or None
        return MachineStatus(
            ready=data[0] == "1", marking=data[1] == "1", error=error if data[2] == "1" else None
        )

    def load(self, job: MarkJob) -> None:
        texts = job.field_texts()
        if len(texts) > MAX_STRINGS:
            raise JobRefused(
                f"the LP series holds {MAX_STRINGS} strings; the job has {len(texts)}", field="fields"
            )
        for n, text in texts.items():
            if len(text) > MAX_STRING_LEN:
                raise JobRefused(
                    f"string {n:02d} is {len(text)} characters; the LP series takes at most {MAX_STRING_LEN}",
                    field=job.fields[n - 1].name,
                )
            if "\r" in text or "\x02" in text:
                raise JobRefused(f"string {n:02d} contains a framing character", field=job.fields[n - 1].name)
        self._set("FNO", f"{job.program:04d}")
        for n, text in texts.items():
            self._set("STR", f"{n:02d}{text}")

    def read_fields(self, numbers: Iterable[int]) -> dict[int, str]:
        out = {}
        for n in numbers:
            data = self._read("STR", f"{n:02d}")
            if data[:2] != f"{n:02d}":
                raise FrameError(f"asked for string {n:02d}, got {data[:2]!r}")
            out[n] = data[2:]
        return out

    def mark(self, *, timeout: float) -> None:
        st = self.status()
        if st.error:
            raise Busy(f"the machine is in error {st.error}; clear it first", code=st.error)
        if not st.ready:
            raise Busy("the machine is not ready (door, interlock, or not in remote mode)")
        self._set("MRK", "1")
        deadline = time.monotonic() + timeout
        while self.status().marking:
            if time.monotonic() > deadline:
                raise Timeout(f"marking did not end within {timeout:g} s")
            time.sleep(self._poll)
        result = self._read("MST")
        if result != "0000":
            raise MarkFailed(f"the machine reports marking ended with {result}", code=result)

    def abort(self) -> None:
        self._set("MRK", "0")

    def clear_error(self) -> None:
        self._set("ERC")

    def close(self) -> None:
        self._t.close()
