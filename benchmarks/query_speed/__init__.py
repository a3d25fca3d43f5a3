"""Benchmarks: query speed."""
