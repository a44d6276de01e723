"""Evaluation: metrics, the per-model evaluation run and its HTML report."""
