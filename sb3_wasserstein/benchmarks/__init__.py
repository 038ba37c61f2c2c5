"""Benchmark scripts: speed and sample efficiency against SB3's baselines, side by side in one run."""
