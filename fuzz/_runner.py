"""The libFuzzer entry point shared by the harnesses, and the per-input time bound."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FunctionType, ModuleType

# A parser that needs more than this for one input (a few KiB at most) is treated as hanging: a finding. Generous
# enough for a machine whose 2 cores are shared with other test suites (2 s was tight there); still orders of
# magnitude above any accepted input's cost, so quadratic behaviour on hostile input is caught.
TIME_BOUND_S = 5.0


class TooSlow(AssertionError):
    """One input took longer than TIME_BOUND_S: quadratic (or worse) behaviour on hostile input."""


@contextmanager
def time_bound(seconds: float = TIME_BOUND_S) -> Iterator[None]:
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    if took > seconds:
        raise TooSlow(f"one input took {took:.2f} s (bound {seconds} s)")


OURS = ("registry", "tracing", "hardware", "fuzz")


def _instrument(atheris: ModuleType) -> None:
    """Coverage counters in our own code only: `instrument_all` would also rewrite every SQLAlchemy and
    FastAPI function, which takes minutes on a small machine and tells the fuzzer nothing useful."""
    done: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in OURS:
            continue
        for obj in list(vars(module).values()):
            for fn in _functions(obj, name):
                if id(fn) not in done:
                    done.add(id(fn))
                    atheris.instrument_func(fn)


def _functions(obj: object, module: str) -> list[FunctionType]:
    if isinstance(obj, FunctionType):
        return [obj] if obj.__module__ == module else []
    if isinstance(obj, type) and obj.__module__ == module:
        out = []
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)  # staticmethod / classmethod
            if isinstance(member, property):
                member = member.fget
            if isinstance(member, FunctionType):
                out.append(member)
        return out
    return []


def fuzz(check: Callable[[bytes], None]) -> None:
    """Run `check` under libFuzzer with coverage feedback. Arguments are libFuzzer's (-runs=N, -seed=S,
    -max_total_time=T, -timeout=S, corpus directories). A hang past -timeout (default here: 10 s) is
    reported by libFuzzer itself."""
    import atheris  # only the long runs need it; tests/fuzz drives `check` without it

    _instrument(atheris)
    argv = list(sys.argv)
    if not any(a.startswith("-timeout=") for a in argv):
        argv.append("-timeout=10")
    atheris.Setup(argv, check)
    atheris.Fuzz()
