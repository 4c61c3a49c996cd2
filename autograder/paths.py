"""Well-known locations in the repository and the per-machine state dir."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("LABS_REPO_ROOT", Path(__file__).resolve().parent.parent))
COURSE_YAML = REPO_ROOT / "course.yaml"
SYLLABUS = REPO_ROOT / "docs" / "syllabus.md"
SOLUTIONS_DIR = REPO_ROOT / "solutions"
LABS_DIR = REPO_ROOT / "labs"

# Machine-local state: service data, logs, endpoints, cached gradebooks.
STATE_DIR = Path(os.environ.get("LABS_STATE_DIR", REPO_ROOT / ".labs"))
LOG_DIR = STATE_DIR / "logs"
ENDPOINTS_ENV = STATE_DIR / "endpoints.env"
DATA_DIR = Path(os.environ.get("DATA_DIR", STATE_DIR / "data"))


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
