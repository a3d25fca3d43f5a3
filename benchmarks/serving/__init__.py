"""Benchmarks: serving."""
