"""Benchmarks: measured by hand (or by the smoke test, with tiny durations), never asserted."""
