"""Benchmarks (``llmr bench ...``) and the run-time estimate."""
