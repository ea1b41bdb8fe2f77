"""Choose a machine by configuration: a vendor driver on a port, or a simulator on a pty / loopback port.

panasonic-sim                 Panasonic LP simulator on a pty pair (serial framing with checksums)
keyence-sim                   Keyence MD simulator on a loopback TCP port
panasonic:/dev/ttyUSB0        Panasonic LP on a serial port (9600 baud unless ?baud=N)
panasonic:tcp://HOST:PORT     Panasonic LP over Ethernet (no checksum)
keyence:tcp://HOST:PORT       Keyence MD over TCP (usually port 50002)
keyence:/dev/ttyS0            Keyence MD on a serial port
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from hardware.marking.keyence.driver import KeyenceMD
from hardware.marking.keyence.simulator import KeyenceSim
from hardware.marking.machine import MarkingMachine
from hardware.marking.panasonic.driver import PanasonicLP
from hardware.marking.panasonic.simulator import PanasonicSim
from hardware.marking.simulator import Served, SimMachine, serve_pty, serve_tcp
from hardware.marking.transport import SerialTransport, Tap, TcpTransport, Transport

VENDORS = ("panasonic", "keyence")


class BadMachineSpec(ValueError):
    pass


@dataclass
class Connected:
    machine: MarkingMachine
    spec: str
    sim: SimMachine | None = None  # set for simulators, so a station can show (and a camera read) the mark


def _transport(target: str, tap: Tap | None) -> tuple[Transport, bool]:
    """(transport, is_serial) for a target after 'vendor:'."""
    if target.startswith("tcp://"):
        parts = urlsplit(target)
        if not parts.hostname or not parts.port:
            raise BadMachineSpec(f"{target!r}: give tcp://HOST:PORT")
        return TcpTransport(parts.hostname, parts.port, tap=tap), False
    path, _, query = target.partition("?")
    baud = int(query.removeprefix("baud=")) if query.startswith("baud=") else 9600
    return SerialTransport(path, baudrate=baud, tap=tap), True


def _driver(
    vendor: str, transport: Transport, serial: bool, name: str, reply_timeout: float
) -> MarkingMachine:
    if vendor == "panasonic":
        return PanasonicLP(transport, with_checksum=serial, name=name, reply_timeout=reply_timeout)
    return KeyenceMD(transport, name=name, reply_timeout=reply_timeout)


@contextlib.contextmanager
def open_machine(
    spec: str, *, tap: Tap | None = None, sim: SimMachine | None = None, reply_timeout: float = 1.0
) -> Iterator[Connected]:
    served: Served | None = None
    if spec in ("panasonic-sim", "keyence-sim"):
        sim = sim or SimMachine()
        if spec == "panasonic-sim":
            served = serve_pty(PanasonicSim(sim))
            transport: Transport = SerialTransport(served.address, tap=tap)
            machine = _driver("panasonic", transport, True, spec, reply_timeout)
        else:
            served = serve_tcp(KeyenceSim(sim))
            host, port = served.address.rsplit(":", 1)
            machine = _driver("keyence", TcpTransport(host, int(port), tap=tap), False, spec, reply_timeout)
    else:
        vendor, sep, target = spec.partition(":")
        if vendor not in VENDORS or not sep or not target:
            raise BadMachineSpec(
                f"machine {spec!r} is not one of panasonic-sim, keyence-sim, panasonic:PORT, keyence:tcp://HOST:PORT"
            )
        transport, serial = _transport(target, tap)
        machine = _driver(vendor, transport, serial, spec, reply_timeout)
        sim = None
    try:
        yield Connected(machine, spec, sim)
    finally:
        machine.close()
        if served is not None:
            served.stop()
