"""RFID inventory over LLRP (EPCglobal Low Level Reader Protocol, TCP 5084), with pyllrp's message
classes (MIT). Our own small client drives one inventory: a reader-side ROSpec that runs for a set time and
reports every tag, then is stopped and deleted; LLRPStatus codes other than success are errors."""

from __future__ import annotations

import socket
import time
from typing import Any, Protocol, runtime_checkable

# pyllrp builds its message and parameter classes at import time from the LLRP definition, so they are
# typed as Any here.
from pyllrp import pyllrp as llrp

from hardware.marking.errors import Disconnected, FrameError, Refused, Timeout

ROSPEC_ID = 1207


@runtime_checkable
class RfidReader(Protocol):
    name: str

    def inventory(self, seconds: float) -> set[str]:
        """EPCs (upper-case hex) of every tag seen during `seconds`."""

    def close(self) -> None: ...


def epc_hex(tag: Any) -> str:
    """The EPC of a TagReportData, whichever encoding the reader chose (EPC_96 or variable EPCData)."""
    short = tag.getFirstParameterByClass(llrp.EPC_96_Parameter)
    if short is not None:
        return f"{short.EPC:024X}"
    data = tag.getFirstParameterByClass(llrp.EPCData_Parameter)
    if data is None:
        raise FrameError("a tag report without an EPC")
    return bytes(data.EPC).hex().upper()


class LlrpReader:
    def __init__(self, host: str, port: int = 5084, *, timeout: float = 5.0, name: str = "llrp") -> None:
        self.name = name
        self._timeout = timeout
        self._msg_id = 100
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise Disconnected(f"cannot connect to the RFID reader at {host}:{port}: {exc}") from exc
        hello = self._receive()
        event = hello.getFirstParameterByClass(llrp.ConnectionAttemptEvent_Parameter)
        if event is None or event.Status != llrp.ConnectionAttemptStatusType.Success:
            self._sock.close()
            raise Refused("the RFID reader refused the connection (another client is connected?)")

    def _receive(self) -> Any:
        try:
            return llrp.UnpackMessageFromSocket(self._sock)
        except TimeoutError as exc:
            raise Timeout("no message from the RFID reader in time") from exc
        except (RuntimeError, OSError) as exc:
            raise Disconnected(f"RFID reader link lost: {exc}") from exc

    def _transact(self, message: Any, reports: list[Any] | None = None) -> Any:
        self._msg_id += 1
        message.MessageID = self._msg_id
        message.send(self._sock)
        while True:
            reply = self._receive()
            if reply.MessageID == self._msg_id and not isinstance(reply, llrp.RO_ACCESS_REPORT_Message):
                break
            if reports is not None and isinstance(reply, llrp.RO_ACCESS_REPORT_Message):
                reports.append(reply)
        status = reply.getFirstParameterByClass(llrp.LLRPStatus_Parameter)
        if status is None or status.StatusCode != llrp.StatusCode.M_Success:
            what = type(message).__name__.removesuffix("_Message")
            detail = getattr(status, "ErrorDescription", "") if status else "no status"
            raise Refused(
                f"{what} refused by the RFID reader: {detail}", code=str(getattr(status, "StatusCode", ""))
            )
        return reply

    def inventory(self, seconds: float) -> set[str]:
        reports: list[Any] = []
        self._transact(llrp.DELETE_ROSPEC_Message(ROSpecID=0))  # 0 = every ROSpec: start from a clean reader
        self._transact(llrp.ADD_ROSPEC_Message(Parameters=[_rospec(seconds)]))
        self._transact(llrp.ENABLE_ROSPEC_Message(ROSpecID=ROSPEC_ID))
        self._transact(llrp.START_ROSPEC_Message(ROSpecID=ROSPEC_ID), reports)
        deadline = time.monotonic() + seconds
        self._sock.settimeout(0.05)
        try:
            while time.monotonic() < deadline:
                try:
                    msg = llrp.UnpackMessageFromSocket(self._sock)
                except TimeoutError:
                    continue
                except (RuntimeError, OSError) as exc:
                    raise Disconnected(f"RFID reader link lost: {exc}") from exc
                if isinstance(msg, llrp.RO_ACCESS_REPORT_Message):
                    reports.append(msg)
        finally:
            self._sock.settimeout(self._timeout)
        self._transact(llrp.STOP_ROSPEC_Message(ROSpecID=ROSPEC_ID), reports)
        self._transact(llrp.DELETE_ROSPEC_Message(ROSpecID=ROSPEC_ID), reports)
        return {
            epc_hex(tag)
            for report in reports
            for tag in report.getAllParametersByClass(llrp.TagReportData_Parameter)
        }

    def close(self) -> None:
        try:
            self._transact(llrp.CLOSE_CONNECTION_Message())
        except (Refused, Timeout, Disconnected):
            pass  # closing anyway
        finally:
            self._sock.close()


def _rospec(seconds: float) -> Any:
    return llrp.ROSpec_Parameter(
        ROSpecID=ROSPEC_ID,
        CurrentState=llrp.ROSpecState.Disabled,
        Parameters=[
            llrp.ROBoundarySpec_Parameter(
                Parameters=[
                    llrp.ROSpecStartTrigger_Parameter(
                        ROSpecStartTriggerType=llrp.ROSpecStartTriggerType.Null
                    ),
                    llrp.ROSpecStopTrigger_Parameter(
                        ROSpecStopTriggerType=llrp.ROSpecStopTriggerType.Duration,
                        DurationTriggerValue=int(seconds * 1000),
                    ),
                ]
            ),
            llrp.AISpec_Parameter(
                AntennaIDs=[0],
                Parameters=[
                    llrp.AISpecStopTrigger_Parameter(AISpecStopTriggerType=llrp.AISpecStopTriggerType.Null),
                    llrp.InventoryParameterSpec_Parameter(
                        InventoryParameterSpecID=1, ProtocolID=llrp.AirProtocols.EPCGlobalClass1Gen2
                    ),
                ],
            ),
            llrp.ROReportSpec_Parameter(
                ROReportTrigger=llrp.ROReportTriggerType.Upon_N_Tags_Or_End_Of_ROSpec,
                N=1,
                Parameters=[llrp.TagReportContentSelector_Parameter(EnableAntennaID=True)],
            ),
        ],
    )
