"""Benchmarks of llmhub: load generation, measurement and the results report."""
