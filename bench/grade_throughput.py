"""Benchmark: `labs grade` vs nbgrader's own CLI on the same 30 fixture submissions.

Both sides grade the fixture lab (tests/fixtures/labs/fx_basic.py) with the
same hidden tests. Ours: one `labs grade` call (in-process nbgrader API,
parallel workers). Baseline: `nbgrader autograde --student X` once per
submission, as a course without our harness would run it. Same machine,
same run, side by side; prints wall times and the ratio.

    .venv/bin/python bench/grade_throughput.py [--n 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.build import LabSource, build_labs  # noqa: E402
from tests.fixtures.submissions import CASES  # noqa: E402

LAB = "m001_fixture_basics"
GRADED_CASES = [c for c in CASES if c.status == "graded"]  # the same mix both sides can grade
BIN = Path(sys.executable).parent


def make_course_repo(root: Path) -> LabSource:
    (root / "solutions").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/labs/fx_basic.py", root / "solutions" / f"{LAB}.py")
    (root / "course.yaml").write_text(
        f"modules:\n- {{number: 1, title: Fixture, lab: {LAB}, services: [], tier: cpu, status: done}}\n"
    )
    lab = LabSource(LAB, root / "solutions" / f"{LAB}.py", root / "labs" / f"{LAB}.ipynb")
    assert build_labs([lab]) == []
    return lab


def write_submissions(lab: LabSource, folder: Path, n: int) -> list[str]:
    release = nbformat.read(str(lab.released), as_version=4)
    folder.mkdir(parents=True)
    students = []
    for i in range(n):
        case = GRADED_CASES[i % len(GRADED_CASES)]
        student = f"s{i:03d}_{case.name}"
        (folder / f"{student}.ipynb").write_bytes(case.make(release))
        students.append(student)
    return students


def time_labs_grade(repo: Path, submissions: Path, out: Path) -> float:
    env = {**os.environ, "LABS_REPO_ROOT": str(repo)}
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "labs"), "grade", "1", str(submissions), "--out", str(out)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def time_nbgrader_cli(lab: LabSource, submissions: Path, students: list[str], course: Path) -> float:
    (course / "source" / LAB).mkdir(parents=True)
    nbformat.write(lab.compiled(), str(course / "source" / LAB / f"{LAB}.ipynb"))
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'bench'\nc.Execute.timeout = 120\n"
    )
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    run = {"cwd": course, "env": env, "check": True, "capture_output": True}
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", LAB, "--force"], **run)
    for student in students:
        dest = course / "submitted" / student / LAB
        dest.mkdir(parents=True)
        shutil.copy(submissions / f"{student}.ipynb", dest / f"{LAB}.ipynb")
    started = time.perf_counter()
    for student in students:
        subprocess.run([str(BIN / "nbgrader"), "autograde", LAB, "--student", student, "--force"], **run)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="submissions per side")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        base = Path(tmp)
        lab = make_course_repo(base / "repo")
        submissions = base / "submissions"
        students = write_submissions(lab, submissions, args.n)
        ours = time_labs_grade(base / "repo", submissions, base / "grades")
        theirs = time_nbgrader_cli(lab, submissions, students, base / "nbgrader-course")
    print(f"machine: {os.cpu_count()} cores")
    print(f"labs grade (parallel, in-process API): {ours:7.1f} s for {args.n} submissions")
    print(f"nbgrader autograde CLI, one at a time:  {theirs:7.1f} s for {args.n} submissions")
    print(f"ratio: {theirs / ours:.2f}x faster")


if __name__ == "__main__":
    main()
