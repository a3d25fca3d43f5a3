"""Benchmarks: tuning."""
