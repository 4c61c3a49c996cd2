"""Deterministic, offline course datasets (see datasets/README.md and datasets/cards/).

from mlops_datasets import load
tx = load("fraud")["transactions"]          # builds on first use, verifies checksums
"""

from mlops_datasets.checksums import ChecksumMismatch
from mlops_datasets.registry import DATASETS, build, default_data_dir, load, path, verify

__all__ = ["DATASETS", "ChecksumMismatch", "build", "default_data_dir", "load", "path", "verify"]
