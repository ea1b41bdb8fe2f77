"""The serial transport turns every way a vanished port fails into Disconnected, never a raw pyserial error."""

from __future__ import annotations

import os
import pty

import pytest

from hardware.marking.errors import Disconnected
from hardware.marking.transport import SerialTransport


def _port_whose_other_end_is_gone() -> SerialTransport:
    master, slave = pty.openpty()
    transport = SerialTransport(os.ttyname(slave))
    os.close(slave)
    os.close(master)  # the adapter is unplugged: every tcsetattr/read on the port now fails with EIO
    return transport


def test_read_after_the_port_vanished_is_a_disconnect() -> None:
    # Setting the read timeout reconfigures the port, so it fails first; that too must be a disconnect.
    transport = _port_whose_other_end_is_gone()
    try:
        with pytest.raises(Disconnected, match="serial port failed"):
            transport.read(0.05)
        with pytest.raises(Disconnected, match="serial port failed"):
            transport.read(0.2)  # a different timeout: the reconfiguration path, not the cached one
    finally:
        transport.close()


def test_write_after_the_port_vanished_is_a_disconnect() -> None:
    transport = _port_whose_other_end_is_gone()
    try:
        with pytest.raises(Disconnected, match="while sending"):
            transport.write(b"\x02PING\x03" * 2000)
    finally:
        transport.close()
