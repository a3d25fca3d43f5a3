"""Benchmarks: quality."""
