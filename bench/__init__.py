"""Benchmarks (not tests): ``python -m bench.append`` and ``python -m bench.relay``; see bench/README.md."""
