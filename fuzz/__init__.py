"""Coverage-guided fuzz harnesses (atheris/libFuzzer) for the parsers that take outside bytes.

Each module exposes `check(data: bytes) -> None`, which feeds one input to one parser and asserts that it
only raises the parser's documented error types, answers within a time bound and round-trips where that
applies. Run one with libFuzzer flags::

    python -m fuzz.uii -runs=100000          # or -max_total_time=300, -seed=1, a corpus directory...

`tests/fuzz/` drives the same `check` functions with Hypothesis for a short deterministic run in CI.
docs/reliability.md records what the long runs found.
"""
