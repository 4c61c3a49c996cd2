"""The environment every lab sets up first, in one place.

- subprocesses the lab starts (`mlflow run`, `dvc`, `uvicorn`) find this environment's tools;
- AWS clients get the emulator's dummy credentials unless real ones are set (the live tier);
- MLflow and other HTTP clients fail fast instead of retrying for minutes, so a mistake shows as
  an error, not a hang;
- names for the lab's resources are derived from RUN_ID, so reruns and classmates never collide.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path


def configure(data_dir: str = "") -> None:
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "30"
    if data_dir:
        os.environ["DATA_DIR"] = data_dir


def resource_name(module: str, run_id: str) -> str:
    """`m001` + RUN_ID -> a lower-case, dash-separated name valid for buckets, topics and experiments."""
    slug = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    prefix = module.lower()
    return slug if slug.startswith(prefix) else f"{prefix}-{slug}"
