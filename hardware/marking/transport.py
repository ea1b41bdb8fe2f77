"""Byte transports for drivers: serial (pyserial: a COM port, /dev/ttyUSB0, a pty, or any pyserial URL) and
TCP. Every chunk sent or received can be handed to a `TrafficLog` for the station's audit."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import serial

from hardware.marking.errors import Disconnected

try:  # POSIX: tcdrain on a vanished pty / USB adapter raises termios.error, not OSError
    import termios

    _LINK_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # Windows stations
    _LINK_ERRORS = (serial.SerialException, OSError)

Tap = Callable[[str, bytes], None]


class Transport(Protocol):
    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes:
        """Whatever bytes arrive within `timeout` seconds (b'' if none); raises Disconnected on EOF."""

    def close(self) -> None: ...


@dataclass
class TrafficLog:
    """Every frame exchanged with a machine: wall-clock time (UTC epoch seconds), direction, bytes."""

    entries: list[tuple[float, str, bytes]] = field(default_factory=list)

    def __call__(self, direction: str, data: bytes) -> None:
        self.entries.append((time.time(), direction, data))

    def lines(self) -> list[str]:
        return [f"{t:.6f} {d} {data.hex(' ')}" for t, d, data in self.entries]


class SerialTransport:
    def __init__(self, url: str, *, baudrate: int = 9600, tap: Tap | None = None) -> None:
        # serial_for_url takes a device path as well as loop:// or socket:// URLs.
        self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
        self._tap = tap

    def write(self, data: bytes) -> None:
        if self._tap:
            self._tap("tx", data)
        try:
            self._port.write(data)
            self._port.flush()
        except _LINK_ERRORS as exc:  # EIO: adapter or pty gone
            raise Disconnected(f"serial port failed while sending: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        try:
            # Setting the timeout reconfigures the port (tcsetattr), which fails with EIO once it is gone.
            self._port.timeout = max(timeout, 0.0)
            first = self._port.read(1)
            data = first + (
                self._port.read(self._port.in_waiting) if first and self._port.in_waiting else b""
            )
        except _LINK_ERRORS as exc:
            raise Disconnected(f"serial port failed: {exc}") from exc
        if data and self._tap:
            self._tap("rx", data)
        return data

    def close(self) -> None:
        self._port.close()


class TcpTransport:
    def __init__(self, host: str, port: int, *, connect_timeout: float = 5.0, tap: Tap | None = None) -> None:
        try:
            self._sock = socket.create_connection((host, port), timeout=connect_timeout)
        except OSError as exc:
            raise Disconnected(f"cannot connect to {host}:{port}: {exc}") from exc
        self._tap = tap

    def write(self, data: bytes) -> None:
        if self._tap:
            self._tap("tx", data)
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise Disconnected(f"connection lost while sending: {exc}") from exc

    def read(self, timeout: float) -> bytes:
        self._sock.settimeout(max(timeout, 0.001))
        try:
            data = self._sock.recv(4096)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise Disconnected(f"connection lost: {exc}") from exc
        if not data:
            raise Disconnected("the machine closed the connection")
        if self._tap:
            self._tap("rx", data)
        return data

    def close(self) -> None:
        self._sock.close()
