"""Benchmarks: run from the repository root as ``python -m bench.<name>``; they print numbers, tests never time."""
