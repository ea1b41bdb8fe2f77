"""A protocol-neutral simulated marking machine with fault injection, and servers that expose a vendor
protocol adapter over a real pty pair or a loopback TCP port.

The adapters (`panasonic/simulator.py`, `keyence/simulator.py`) decode requests with the very codec the
drivers use, call the operations below, and encode the replies; faults are injected per operation:

    load (program/field writes) · read (field reads) · status · mark (start) · abort · clear
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class SimRefusal(Exception):
    """The simulated machine refuses an operation (the adapter turns it into NAK / NG with `reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # wrong_state, bad_data, alarm


@dataclass
class Faults:
    nak: dict[str, str] = field(
        default_factory=dict
    )  # operation -> reason (once): wrong_state, bad_data, alarm
    silent: set[str] = field(default_factory=set)  # operation -> no reply at all (once)
    garble: set[str] = field(default_factory=set)  # operation -> reply corrupted on the wire (once)
    busy: bool = False  # never ready (interlock open)
    split: bool = False  # every reply trickles out one byte at a time
    disconnect_during_mark: bool = False  # the link drops right after marking starts
    mark_error: str | None = None  # marking ends in this machine error
    readback: dict[int, str] = field(default_factory=dict)  # field reads return this instead (corrupt buffer)
    engrave: dict[int, str] = field(default_factory=dict)  # the laser engraves this instead (a mis-mark)


@dataclass
class SimMachine:
    mark_seconds: float = 0.05
    faults: Faults = field(default_factory=Faults)
    program: int = 0
    fields: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    engraved: list[dict[int, str]] = field(default_factory=list)  # what was physically marked, in order
    aborted: int = 0
    drop_link: bool = False
    _marking_until: float | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def fault(self, op: str) -> str | None:
        """The one-shot fault for `op`, if any: 'nak:<reason>', 'silent' or 'garble'."""
        with self._lock:
            if op in self.faults.nak:
                return "nak:" + self.faults.nak.pop(op)
            for kind in ("silent", "garble"):
                bucket = getattr(self.faults, kind)
                if op in bucket:
                    bucket.discard(op)
                    return kind
        return None

    def _tick(self) -> None:
        if self._marking_until is not None and time.monotonic() >= self._marking_until:
            self._marking_until = None
            self.engraved.append({**self.fields, **self.faults.engrave})
            if self.faults.mark_error:
                self.error = self.faults.mark_error

    @property
    def marking(self) -> bool:
        with self._lock:
            self._tick()
            return self._marking_until is not None

    @property
    def ready(self) -> bool:
        return not self.faults.busy and not self.marking and self.error is None

    def select_program(self, n: int) -> None:
        with self._lock:
            if self.marking:
                raise SimRefusal("wrong_state")
            self.program = n

    def set_field(self, n: int, text: str) -> None:
        with self._lock:
            if self.marking:
                raise SimRefusal("wrong_state")
            if not 1 <= n <= 50:
                raise SimRefusal("bad_data")
            self.fields[n] = text

    def get_field(self, n: int) -> str:
        with self._lock:
            if n not in self.fields:
                raise SimRefusal("bad_data")
            return self.faults.readback.get(n, self.fields[n])

    def start(self) -> None:
        with self._lock:
            if self.error is not None:
                raise SimRefusal("alarm")
            if not self.ready or not self.fields:
                raise SimRefusal("wrong_state")
            self._marking_until = time.monotonic() + self.mark_seconds
            self.drop_link = self.faults.disconnect_during_mark

    def stop(self) -> None:
        with self._lock:
            if self.marking:
                self._marking_until = None
                self.aborted += 1
                self.error = "E900" if self.error is None else self.error

    def clear(self) -> None:
        with self._lock:
            self.error = None

    def take_link_drop(self) -> bool:
        with self._lock:
            dropped, self.drop_link = self.drop_link, False
            return dropped


class Device(Protocol):
    """A protocol adapter: bytes from the host in, bytes to send back out (b'' when silent)."""

    def feed(self, data: bytes) -> bytes: ...

    @property
    def split(self) -> bool:
        """Send replies one byte at a time."""

    def take_link_drop(self) -> bool:
        """True once after the device decided to drop the link (the cable is pulled)."""


def garble(reply: bytes) -> bytes:
    """Flip bits in the middle of a reply, keeping its terminator, as line noise would."""
    if len(reply) < 3:
        return reply
    mid = len(reply) // 2
    return reply[:mid] + bytes([reply[mid] ^ 0x5A]) + reply[mid + 1 :]


def _send(write: Callable[[bytes], object], data: bytes, split: bool) -> None:
    if not split:
        write(data)
        return
    for i in range(len(data)):
        write(data[i : i + 1])
        time.sleep(0.001)


@dataclass
class Served:
    """A running simulator: `address` is the pty path or 'host:port'; stop() ends it."""

    address: str
    device: Device
    _stop: threading.Event
    _threads: list[threading.Thread]
    _cleanup: list[Callable[[], None]]

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        for c in self._cleanup:
            with contextlib.suppress(OSError):
                c()


def serve_pty(device: Device) -> Served:
    """The device on the master side of a new pty pair; the host opens the slave path like a COM port."""
    master, slave = os.openpty()
    tty.setraw(slave)  # no CR/LF translation or echo: a serial line passes bytes as they are
    stop = threading.Event()
    closed = threading.Event()

    def loop() -> None:
        while not stop.is_set() and not closed.is_set():
            ready, _, _ = select.select([master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(master, 4096)
            except OSError:
                return
            reply = device.feed(data)
            if reply:
                _send(lambda b: os.write(master, b), reply, device.split)
            if device.take_link_drop():  # the cable is pulled: the host sees the port fail
                closed.set()
                os.close(master)
                return

    t = threading.Thread(target=loop, daemon=True, name="sim-pty")
    t.start()

    def close_master() -> None:
        if not closed.is_set():
            os.close(master)

    return Served(os.ttyname(slave), device, stop, [t], [close_master, lambda: os.close(slave)])


def serve_tcp(device: Device) -> Served:
    """The device on a loopback TCP port (one host at a time, as the machines allow)."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    stop = threading.Event()

    def handle(conn: socket.socket) -> None:
        conn.settimeout(0.02)
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                reply = device.feed(data)
                if reply:
                    _send(conn.sendall, reply, device.split)
                if device.take_link_drop():
                    with contextlib.suppress(OSError):
                        conn.shutdown(socket.SHUT_RDWR)
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            handle(conn)

    t = threading.Thread(target=accept, daemon=True, name="sim-tcp")
    t.start()
    host, port = server.getsockname()[:2]
    return Served(f"{host}:{port}", device, stop, [t], [server.close])


@contextlib.contextmanager
def running(served: Served) -> Iterator[Served]:
    try:
        yield served
    finally:
        served.stop()
