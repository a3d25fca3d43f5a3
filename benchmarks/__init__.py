"""Accord's benchmarks, grouped by what they measure; run each as a module from the
repository root (python -m benchmarks.GROUP.SCRIPT --help)."""
