"""Shared fixtures: the fixture lab, a graded fixture class, and a throwaway course repo for CLI tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from autograder.build import LabSource, build_labs
from tests.fixtures.submissions import CASES

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_SOURCE = FIXTURES / "labs" / "fx_basic.py"
REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def fixture_lab(tmp_path_factory) -> LabSource:
    """fx_basic built into a temp labs dir, the way `labs build` builds course labs."""
    out = tmp_path_factory.mktemp("fxlab")
    lab = LabSource("fx_basic", FIXTURE_SOURCE, out / "fx_basic.ipynb")
    assert build_labs([lab]) == []
    return lab


def write_class(lab: LabSource, folder: Path) -> Path:
    """One `<student>.ipynb` per fixture case."""
    release = nbformat.read(str(lab.released), as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    for case in CASES:
        (folder / f"{case.name}.ipynb").write_bytes(case.make(release))
    return folder


@pytest.fixture(scope="session")
def fixture_class(fixture_lab, tmp_path_factory) -> Path:
    return write_class(fixture_lab, tmp_path_factory.mktemp("class") / "submissions")


@pytest.fixture(scope="session")
def course_repo(tmp_path_factory) -> Path:
    """A minimal course repo (one fixture lab as module 1) for running the `labs` CLI against."""
    root = tmp_path_factory.mktemp("repo")
    lab_id = "m001_fixture_basics"
    (root / "solutions").mkdir()
    shutil.copy(FIXTURE_SOURCE, root / "solutions" / f"{lab_id}.py")
    course = {
        "course": "fixture",
        "modules": [
            {
                "number": 1,
                "title": "Fixture basics",
                "bullets": ["means", "run names"],
                "part": "Fixtures",
                "project": None,
                "lab": lab_id,
                "services": [],
                "tier": "cpu",
                "status": "done",
            }
        ],
    }
    (root / "course.yaml").write_text(yaml.safe_dump(course))
    (root / "docs").mkdir()
    (root / "README.md").write_text("fixture course\n")
    return root


def run_labs(repo: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the installed `labs` CLI against `repo` (LABS_REPO_ROOT points the harness at it)."""
    env = {**os.environ, "LABS_REPO_ROOT": str(repo)}
    env.pop("LABS_STATE_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "autograder.cli", *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
