"""Every MarkingMachine implementation, each against its simulator over a real link (pty pair or loopback
TCP). The conformance tests in test_conformance.py run against all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hardware.marking.keyence.driver import KeyenceMD
from hardware.marking.keyence.simulator import KeyenceSim
from hardware.marking.machine import MarkingMachine
from hardware.marking.panasonic.driver import PanasonicLP
from hardware.marking.panasonic.simulator import PanasonicSim
from hardware.marking.simulator import Served, SimMachine, serve_pty, serve_tcp
from hardware.marking.transport import SerialTransport, TcpTransport, TrafficLog

REPLY_TIMEOUT = 0.3


@dataclass
class Rig:
    machine: MarkingMachine
    sim: SimMachine
    served: Served
    log: TrafficLog


def _tcp(served: Served, log: TrafficLog) -> TcpTransport:
    host, port = served.address.rsplit(":", 1)
    return TcpTransport(host, int(port), tap=log)


def build(kind: str, sim: SimMachine) -> Rig:
    log = TrafficLog()
    if kind == "panasonic-pty":
        served = serve_pty(PanasonicSim(sim))
        machine: MarkingMachine = PanasonicLP(
            SerialTransport(served.address, tap=log), reply_timeout=REPLY_TIMEOUT
        )
    elif kind == "panasonic-tcp":
        served = serve_tcp(PanasonicSim(sim, with_checksum=False))
        machine = PanasonicLP(_tcp(served, log), with_checksum=False, reply_timeout=REPLY_TIMEOUT)
    elif kind == "keyence-tcp":
        served = serve_tcp(KeyenceSim(sim))
        machine = KeyenceMD(_tcp(served, log), reply_timeout=REPLY_TIMEOUT)
    else:
        served = serve_pty(KeyenceSim(sim))
        machine = KeyenceMD(SerialTransport(served.address, tap=log), reply_timeout=REPLY_TIMEOUT)
    return Rig(machine, sim, served, log)


IMPLEMENTATIONS = ["panasonic-pty", "panasonic-tcp", "keyence-tcp", "keyence-pty"]


@pytest.fixture(params=IMPLEMENTATIONS)
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    r = build(request.param, SimMachine(mark_seconds=0.03))
    try:
        yield r
    finally:
        r.machine.close()
        r.served.stop()
