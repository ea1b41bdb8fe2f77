"""Readers against their simulators over real ptys and loopback TCP; payload separators survive."""

from __future__ import annotations

import io
from collections import deque

import pytest

from hardware.codes import render, symbols, uii
from hardware.codes.uii import UniqueMark
from hardware.marking.errors import Refused, Timeout
from hardware.marking.simulator import Served, serve_tcp
from hardware.marking.transport import SerialTransport, TcpTransport
from hardware.readers.image import decode_image
from hardware.readers.scanners import CodeReader, DataManDMCC, KeyenceSR, LineScanner
from hardware.readers.simulator import PtyScanner, TriggeredReaderSim
from hardware.readers.wedge import KeyboardWedge, flatten, interpret

PAYLOAD = uii.compose(UniqueMark(enterprise="GLOCK", model="17", serial="AB123", country="AT", year=2024))


def test_line_scanner_on_a_pty_keeps_separators() -> None:
    sim = PtyScanner()
    reader = LineScanner(SerialTransport(sim.path))
    try:
        assert isinstance(reader, CodeReader)
        assert reader.read(0.05) is None
        sim.present(PAYLOAD)
        sim.present("CASE-0001")
        assert reader.read(1) == PAYLOAD
        assert reader.read(1) == "CASE-0001"
    finally:
        reader.close()
        sim.close()


def _tcp(sim: TriggeredReaderSim) -> tuple[TcpTransport, Served]:
    served = serve_tcp(sim)
    host, port = served.address.rsplit(":", 1)
    return TcpTransport(host, int(port)), served


def test_keyence_sr_triggers_reads_and_no_reads() -> None:
    sim = TriggeredReaderSim("keyence-sr", deque([PAYLOAD]))
    transport, served = _tcp(sim)
    reader = KeyenceSR(transport)
    try:
        assert reader.read(1) == PAYLOAD
        assert reader.read(1) is None  # ERROR: nothing in view
        sim.silent = True
        assert reader.read(0.1) is None
        assert sim.requests[-1] == b"LOFF"  # the reading window was closed
    finally:
        reader.close()
        served.stop()


def test_dataman_dmcc() -> None:
    sim = TriggeredReaderSim("dmcc", deque(["CASE-0002"]))
    transport, served = _tcp(sim)
    reader = DataManDMCC(transport)
    try:
        assert reader.read(1) == "CASE-0002"
        assert reader.read(1) is None
        assert sim.requests == [b"||>TRIGGER ON", b"||>TRIGGER ON"]
        sim.silent = True
        with pytest.raises(Timeout):
            reader.read(0.1)
    finally:
        reader.close()
        served.stop()


def test_keyence_sr_error_reply_is_refused() -> None:
    sim = TriggeredReaderSim("keyence-sr")
    transport, served = _tcp(sim)
    reader = KeyenceSR(transport)
    try:
        transport.write(b"BAD\r")
        with pytest.raises(Refused):
            reader.read(1)
    finally:
        reader.close()
        served.stop()


def test_wedge_lost_separators_are_recognised_not_parsed() -> None:
    typed = flatten(PAYLOAD)
    assert typed == "[)>06VGLOCK1P17SAB1234LAT23D2024"
    scan = interpret(typed)
    assert (scan.mark, scan.separators_lost) == (None, True)
    full = interpret(PAYLOAD)
    assert full.mark is not None
    assert full.mark.serial == "AB123"
    plain = interpret("AB123\r\n")
    assert (plain.mark, plain.separators_lost, plain.text) == (None, False, "AB123")


def test_wedge_reads_lines_until_an_empty_one() -> None:
    wedge = KeyboardWedge(io.StringIO("AB123\n[)>06VGLOCKSX1\n\nIGNORED\n"))
    assert list(wedge.scans()) == ["AB123", "[)>06VGLOCKSX1"]


def test_camera_frame_decoding_returns_exact_bytes() -> None:
    img = render.bitmap(symbols.datamatrix(PAYLOAD), module_px=5)
    assert decode_image(img) == [PAYLOAD]
