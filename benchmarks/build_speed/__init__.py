"""Benchmarks: build speed."""
