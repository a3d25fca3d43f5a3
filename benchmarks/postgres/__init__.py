"""Benchmarks: postgres."""
