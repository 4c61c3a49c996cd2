"""Deterministic, offline course datasets (see datasets/README.md)."""
