"""Build every dataset's CI size once per test session, into a temporary data dir, and time it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlops_datasets import build, fraud
from mlops_datasets.registry import DATASETS


@dataclass(frozen=True)
class BuildTiming:
    wall_s: float
    cpu_s: float  # this process's CPU time: what the build costs, whatever else the machine runs
    load_per_cpu: float  # 1-minute load average per core when the build finished


@pytest.fixture(scope="session")
def ci_build(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildTiming]:
    data_dir = tmp_path_factory.mktemp("data")
    fraud.clear_cache()  # time the real work, not a cache filled by an earlier test
    wall, cpu = time.perf_counter(), time.process_time()
    build(list(DATASETS), "ci", data_dir)  # raises ChecksumMismatch if bytes differ from the manifest
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0] / (os.cpu_count() or 1) if hasattr(os, "getloadavg") else 0.0
    return data_dir, BuildTiming(wall, cpu, load)


@pytest.fixture(scope="session")
def ci_dir(ci_build: tuple[Path, BuildTiming]) -> Path:
    """The data dir holding every CI dataset, built and verified."""
    return ci_build[0]
