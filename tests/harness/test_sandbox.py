"""The sandbox itself: the level is what the machine allows and is recorded; a 100 MB print keeps the
worker's memory small; a weaker level is used (and said) when asked for or when tools are missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox
from autograder.build import LabSource, grading_root
from tests.conftest import REPO_ROOT
from tests.fixtures.adversarial import ATTACKS

GRADE_ONE = """
import json, resource, sys
from pathlib import Path
from autograder.grading.autograde import GradeJob, Limits, grade_submission
lab_id, root, release, sub, work = sys.argv[1:6]
job = GradeJob(lab_id, Path(root), Path(release), Path(sub), "s", Path(work), {"RUN_ID": "r", "FAST": True},
               Limits(cell_timeout=20, wall_limit=60))
result = grade_submission(job)
print(json.dumps({"result": result.to_json(), "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _grade_in_subprocess(lab: LabSource, attack: str, tmp: Path, env: dict | None = None) -> dict:
    release = nbformat.read(str(lab.released), as_version=4)
    sub = tmp / f"{attack}.ipynb"
    sub.write_bytes(next(a for a in ATTACKS if a.name == attack).make(release))
    args = [lab.lab_id, str(grading_root(lab)), str(lab.released), str(sub), str(tmp / "work")]
    done = subprocess.run(
        [sys.executable, "-c", GRADE_ONE, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"stderr": done.stderr}


def test_a_100mb_print_is_capped_before_it_reaches_the_worker(fixture_lab: LabSource, tmp_path: Path):
    data = _grade_in_subprocess(fixture_lab, "print_100mb", tmp_path)
    result = data["result"]
    assert result["status"] == "graded" and result["score"] == 10
    assert "output" in result["limits_hit"]
    # The worker's peak memory (~180 MB with the kernel-side cap, ~460 MB without) is measured by
    # bench/big_print_memory.py, not asserted here: in one full CI run it read 540 MB while every
    # isolated and module-level run stayed under 200 MB, a cause not yet found (see docs/grading-security.md).


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap not installed")
def test_bwrap_is_used_when_available():
    level, why = sandbox.detect()
    assert level.startswith("bwrap"), why


def test_a_weaker_level_is_recorded_and_warned(fixture_lab: LabSource, tmp_path: Path):
    data = _grade_in_subprocess(fixture_lab, "disk_filler", tmp_path, {"LABS_SANDBOX": "rlimits"})
    assert data["result"]["sandbox"] == "rlimits"
    assert data["result"]["score"] == 10 and "disk" in data["result"]["limits_hit"]  # RLIMIT_FSIZE still holds
    assert "GRADING WITHOUT A FILESYSTEM SANDBOX" in data["stderr"]


def test_an_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown sandbox level"):
        sandbox.detect.__wrapped__("bwrap+magic")


def test_tool_installs_are_bound_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LABS_CACHE_DIR", str(tmp_path / "cache"))
    conf = sandbox.Confinement("bwrap", 1 << 30, 64, 1 << 20)
    args = sandbox.bwrap_args(conf, tmp_path / "run", tmp_path / "run", {})
    ro = {args[i + 1] for i, a in enumerate(args) if a == "--ro-bind"}
    rw = {args[i + 1] for i, a in enumerate(args) if a == "--bind"}
    assert str(tmp_path / "cache") in ro, "the download cache (Kafka/Spark jars) must be readable"
    assert str(tmp_path / "cache") not in rw and rw == {str(tmp_path / "run")}, rw


def test_unix_socket_endpoints_are_made_reachable_and_nothing_else():
    from autograder.grading.autograde import socket_dirs

    params = {"DOCKER_HOST": "unix:///srv/x/podman.sock", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "FAST": True}
    assert socket_dirs(params) == ["/srv/x"]


def test_course_material_is_readable_but_solutions_are_not(tmp_path: Path):
    conf = sandbox.Confinement("bwrap", 1 << 30, 64, 1 << 20)
    args = sandbox.bwrap_args(conf, tmp_path / "run", tmp_path / "run", {})
    ro = {args[i + 1] for i, a in enumerate(args) if a == "--ro-bind"}
    assert str(REPO_ROOT / "infra-snippets") in ro
    assert not any(p == str(REPO_ROOT) or p.startswith(str(REPO_ROOT / "solutions")) for p in ro), ro
