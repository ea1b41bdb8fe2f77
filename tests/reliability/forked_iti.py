"""`iti` commands as real separate processes, started in a fraction of the time of `python -m cli.main`.

Each process is forked from a multiprocessing fork server that imported the CLI and the web stack once
(`cli.main`, `api.app`, uvicorn): the child is a separate OS process with its own memory, database connections
and sockets, runs the same `cli.main.main()` as the `iti` script with the environment it is given, and
`kill -9` ends it like any other process. Starting `python -m cli.main serve` pays those imports every time
(3 s on a quiet machine, 12 s on a loaded 2-core one), which would be most of a crash drill's time.

The fork server is single-threaded and has opened no database or socket, so nothing is inherited that a
child could share with the test process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from multiprocessing.process import BaseProcess

_CTX = multiprocessing.get_context("forkserver")
PRELOAD = ["cli.main", "api.app", "uvicorn"]


def _main(env: dict[str, str], argv: list[str], log: str) -> None:
    """In the child: the environment as given, output to `log`, then the `iti` entry point."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.clear()
    os.environ.update(env)
    from registry.config import reload_settings

    reload_settings()  # in case an import in the fork server read the settings
    sys.argv = ["iti", *argv]
    from cli.main import main

    main()


def start(env: dict[str, str], *argv: str, log: str = os.devnull) -> BaseProcess:
    _CTX.set_forkserver_preload(PRELOAD)
    proc = _CTX.Process(target=_main, args=(dict(env), list(argv), log), name="iti " + " ".join(argv))
    proc.start()
    return proc


def run(env: dict[str, str], *argv: str, log: str = os.devnull, timeout: float = 120) -> int:
    """Run to the end; the exit code."""
    proc = start(env, *argv, log=log)
    proc.join(timeout)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
        raise TimeoutError(f"iti {' '.join(argv)} did not finish in {timeout} s")
    return proc.exitcode


def kill_9(proc: BaseProcess) -> None:
    proc.kill()  # SIGKILL
    proc.join(30)
