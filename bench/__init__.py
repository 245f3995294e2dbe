"""Benchmark harness: `python -m bench` (see bench/README.md); never part of the test suite."""
