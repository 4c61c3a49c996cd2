"""Resumable, idempotent and distributable: a killed `labs grade` resumes, reruns agree, Ray grades the same."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograder.build import LabSource, grading_root
from autograder.grading.autograde import GradeJob, Limits, grade_submission
from autograder.grading.batch import RayRunner, grade_batch
from tests.conftest import run_labs
from tests.fixtures.submissions import CASES

LIMITS = Limits(cell_timeout=5, wall_limit=30)
PARAMS = {"RUN_ID": "r42", "FAST": True}
TIMING = {"seconds"}
LAB = "m001_fixture_basics"


def _stable(result) -> dict:
    return {k: v for k, v in result.to_json().items() if k not in TIMING}


def test_grading_twice_gives_identical_results(fixture_lab: LabSource, tmp_path: Path):
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    sub = tmp_path / "wrong_plausible.ipynb"
    sub.write_bytes(CASES[2].make(release))
    root = grading_root(fixture_lab)
    runs = [
        grade_submission(
            GradeJob("fx_basic", root, fixture_lab.released, sub, "ann", tmp_path / f"w{i}", PARAMS, LIMITS)
        )
        for i in range(2)
    ]
    assert runs[0].score == 6
    assert _stable(runs[0]) == _stable(runs[1])


def test_killed_labs_grade_resumes_with_only_the_rest(course_repo: Path, tmp_path: Path):
    """SIGKILL a real `labs grade` once some results are on disk; the rerun grades only the others."""
    assert run_labs(course_repo, "build").returncode == 0
    release = nbformat.read(str(course_repo / "labs" / f"{LAB}.ipynb"), as_version=4)
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(6):
        (subs / f"s{i}.ipynb").write_bytes(CASES[i % 2].make(release))  # correct / blank
    out = tmp_path / "out"
    env = {**os.environ, "LABS_REPO_ROOT": str(course_repo)}
    env.pop("LABS_STATE_DIR", None)
    args = [sys.executable, "-m", "autograder.cli", "grade", LAB, str(subs), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(
        args, cwd=course_repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list((out / "results").glob("*.json"))) < 2:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its workers, mid-batch
    proc.wait()
    done_before = {p.stem for p in (out / "results").glob("*.json")}
    assert 2 <= len(done_before) < 6
    again = run_labs(course_repo, "grade", LAB, str(subs), "--out", str(out), "--workers", "2", timeout=400)
    assert again.returncode == 0, again.stderr
    cached = {line.split(":")[0] for line in again.stderr.splitlines() if "(cached)" in line}
    assert cached == done_before
    data = json.loads((out / "grades.json").read_text())
    assert {r["student"]: r["score"] for r in data["results"]} == {
        f"s{i}": (10.0 if i % 2 == 0 else 0.0) for i in range(6)
    }


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    yield
    if ray.is_initialized():
        ray.shutdown()


def test_ray_runner_grades_like_the_local_pool(ray_local, fixture_lab: LabSource, tmp_path: Path):
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    subs = tmp_path / "subs"
    subs.mkdir()
    for case in CASES[:3]:
        (subs / f"{case.name}.ipynb").write_bytes(case.make(release))
    runner = RayRunner("local", local_cpus=2)
    try:
        results = grade_batch(fixture_lab, subs, tmp_path / "out", params=PARAMS, limits=LIMITS, runner=runner)
    except Exception as exc:  # a local Ray head that cannot start on an overloaded box is not a grading bug
        if "timed out during startup" in str(exc):
            pytest.skip(f"local Ray did not start: {exc}")
        raise
    assert {r.student: r.score for r in results} == {"correct": 10, "blank": 0, "wrong_plausible": 6}
    assert sorted(p.stem for p in (tmp_path / "out" / "results").glob("*.json")) == sorted(r.student for r in results)
