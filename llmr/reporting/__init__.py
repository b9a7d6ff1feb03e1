"""Reporting: run summaries and paired comparisons, seed replicates, published results."""
