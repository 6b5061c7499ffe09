"""Evaluation: the per-dataset classifier, the quality metrics, and scoring a generator against real data."""
