"""Benchmarks: evaluation speed, the multi-program trainer, start-up."""
