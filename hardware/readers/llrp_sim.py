"""An LLRP reader emulator on a loopback TCP port: it greets with a READER_EVENT_NOTIFICATION, answers
every request with its *_RESPONSE and LLRPStatus, and reports the planted tags after START_ROSPEC."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyllrp import pyllrp as llrp


@dataclass
class LlrpEmulator:
    tags: set[str] = field(default_factory=set)  # EPCs in the field, upper-case hex
    refuse: set[str] = field(default_factory=set)  # message names answered with an error status
    requests: list[str] = field(default_factory=list)
    address: tuple[str, int] = ("127.0.0.1", 0)
    _stop: threading.Event = field(default_factory=threading.Event)
    _server: socket.socket | None = None
    _thread: threading.Thread | None = None

    def start(self) -> LlrpEmulator:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.address = self._server.getsockname()[:2]
        self._thread = threading.Thread(target=self._accept, daemon=True, name="llrp-emulator")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)
        if self._server:
            self._server.close()

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(0.1)
                self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        _hello().send(conn)
        while not self._stop.is_set():
            try:
                msg = llrp.UnpackMessageFromSocket(conn)
            except TimeoutError:
                continue
            except (RuntimeError, OSError):
                return
            name = type(msg).__name__.removesuffix("_Message")
            self.requests.append(name)
            ok = name not in self.refuse
            status = llrp.LLRPStatus_Parameter(
                StatusCode=llrp.StatusCode.M_Success if ok else llrp.StatusCode.M_ParameterError,
                ErrorDescription="" if ok else f"emulator refuses {name}",
            )
            llrp.GetResponseClass(msg)(MessageID=msg.MessageID, Parameters=[status]).send(conn)
            if name == "START_ROSPEC" and ok:
                self._report(conn)
            if name == "CLOSE_CONNECTION":
                return

    def _report(self, conn: socket.socket) -> None:
        # 96-bit EPCs go as the short EPC_96 parameter, longer ones (ADI-var) as EPCData, as readers do.
        reports = [
            llrp.TagReportData_Parameter(
                Parameters=[
                    llrp.EPC_96_Parameter(EPC=int(epc, 16))
                    if len(epc) == 24
                    else llrp.EPCData_Parameter(EPC=bytes.fromhex(epc))
                ]
            )
            for epc in sorted(self.tags)
        ]
        llrp.RO_ACCESS_REPORT_Message(MessageID=0, Parameters=reports).send(conn)


def _hello() -> Any:
    return llrp.READER_EVENT_NOTIFICATION_Message(
        MessageID=0,
        Parameters=[
            llrp.ReaderEventNotificationData_Parameter(
                Parameters=[
                    llrp.UTCTimestamp_Parameter(Microseconds=int(time.time() * 1_000_000)),
                    llrp.ConnectionAttemptEvent_Parameter(Status=llrp.ConnectionAttemptStatusType.Success),
                ]
            )
        ],
    )


@contextlib.contextmanager
def emulator(tags: set[str]) -> Iterator[LlrpEmulator]:
    emu = LlrpEmulator(tags=set(tags)).start()
    try:
        yield emu
    finally:
        emu.stop()
