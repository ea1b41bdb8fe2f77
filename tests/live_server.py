"""The real app served by a real uvicorn in a thread, on a free loopback port, for tests over real HTTP.

(The federation nodes, which restart on a fixed port, and the two-process rate-limit test start their own.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.types import ASGIApp


@contextmanager
def live_server(
    app: ASGIApp, *, log_level: str = "warning", start_timeout: float = 15.0, stop_timeout: float = 10.0
) -> Iterator[str]:
    """Yields the base URL (`http://127.0.0.1:<port>`) once uvicorn has started the app (lifespan on)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout)
        sock.close()
