"""Benchmarks of the registry at national scale: `python -m bench.run --weapons 1000000`.

See docs/performance.md for the method and the figures.
"""
