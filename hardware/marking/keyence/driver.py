"""Keyence MD-series driver over any `Transport` (TCP, commonly port 50002, or serial).

Items used: ProgramNo, BLK=n,CharacterString (block text), Ready, Error, StartMarking, StopMarking,
ErrorClear. ProgramNo, CharacterString, StartMarking, Ready, Error and ErrorClear follow the MD-X
communication manual as summarised in docs/hardware.md; StopMarking and the exact error-code format are
assumptions of our simulator to check against the manual of the exact model.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from hardware.marking.errors import Busy, FrameError, MarkFailed, Refused, Timeout
from hardware.marking.job import JobRefused, MarkJob
from hardware.marking.keyence.codec import Request, Splitter, decode_response
from hardware.marking.machine import MachineStatus
from hardware.marking.transport import Transport

MAX_BLOCKS = 256
NO_ERROR = "000"


class KeyenceMD:
    def __init__(
        self,
        transport: Transport,
        *,
        reply_timeout: float = 1.0,
        poll_interval: float = 0.02,
        name: str = "keyence-md",
    ) -> None:
        self.name = name
        self._t = transport
        self._reply_timeout = reply_timeout
        self._poll = poll_interval
        self._split = Splitter()

    def _exchange(self, req: Request) -> str:
        self._t.write(req.encode())
        deadline = time.monotonic() + self._reply_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Timeout(
                    f"no reply to {req.kind},{req.body.split('=')[0]} within {self._reply_timeout:g} s"
                )
            lines = self._split.feed(self._t.read(remaining))
            if lines:
                if len(lines) > 1:
                    raise FrameError(f"{len(lines)} replies to one request {req.kind}")
                resp = decode_response(lines[0])
                if resp.kind != req.kind:
                    raise FrameError(f"{req.kind} request answered by {resp.kind}")
                if not resp.ok:
                    raise Refused(
                        f"{req.kind},{req.body.split('=')[0]} refused: NG {resp.value}", code=resp.value
                    )
                return resp.value

    def _write(self, body: str) -> None:
        self._exchange(Request("WX", body))

    def _read(self, body: str) -> str:
        return self._exchange(Request("RX", body))

    def status(self) -> MachineStatus:
        ready = self._read("Ready")
        error = self._read("Error")
        if ready not in ("0", "1", "2") or not error.isdigit():
            raise FrameError(f"unexpected status Ready={ready!r} Error={error!r}")
        # Ready: 1 ready, 0 not ready, 2 marking (our reading of the manual's operating-status values).
        return MachineStatus(
            ready=ready == "1", marking=ready == "2", error=None if error == NO_ERROR else error
        )

    def load(self, job: MarkJob) -> None:
        texts = job.field_texts()
        if len(texts) > MAX_BLOCKS:
            raise JobRefused(
                f"the MD series holds {MAX_BLOCKS} blocks; the job has {len(texts)}", field="fields"
            )
        for n, text in texts.items():
            if "\r" in text:
                raise JobRefused(f"block {n} contains a carriage return", field=job.fields[n - 1].name)
        self._write(f"ProgramNo={job.program:04d}")
        for n, text in texts.items():
            self._write(f"BLK={n},CharacterString={text}")

    def read_fields(self, numbers: Iterable[int]) -> dict[int, str]:
        return {n: self._read(f"BLK={n},CharacterString") for n in numbers}

    def mark(self, *, timeout: float) -> None:
        st = self.status()
        if st.error:
            raise Busy(f"the machine is in error {st.error}; clear it first", code=st.error)
        if not st.ready:
            raise Busy("the machine is not ready")
        self._write("StartMarking")
        deadline = time.monotonic() + timeout
        while (st := self.status()).marking:
            if time.monotonic() > deadline:
                raise Timeout(f"marking did not end within {timeout:g} s")
            time.sleep(self._poll)
        if st.error:
            raise MarkFailed(f"the machine reports marking ended with error {st.error}", code=st.error)

    def abort(self) -> None:
        self._write("StopMarking")

    def clear_error(self) -> None:
        self._write("ErrorClear")

    def close(self) -> None:
        self._t.close()
