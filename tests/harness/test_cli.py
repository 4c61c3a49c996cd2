"""The `labs` CLI end to end, against a throwaway one-lab course repo."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.conftest import run_labs
from tests.fixtures.submissions import CASES

LAB = "m001_fixture_basics"


@pytest.fixture(scope="module")
def built_repo(course_repo: Path) -> Path:
    result = run_labs(course_repo, "build")
    assert result.returncode == 0, result.stderr
    return course_repo


def test_list_json_has_the_documented_fields(built_repo: Path):
    result = run_labs(built_repo, "list", "--json")
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert {"number", "title", "lab", "status", "services"} <= set(entry)
    assert entry["lab"] == LAB and entry["number"] == 1


def test_build_check_passes_then_catches_a_stale_notebook(built_repo: Path):
    assert run_labs(built_repo, "build", "--check").returncode == 0
    notebook = built_repo / "labs" / f"{LAB}.ipynb"
    original = notebook.read_text()
    try:
        notebook.write_text(original.replace("mean of a list", "mean of a LIST"))
        stale = run_labs(built_repo, "build", "--check")
        assert stale.returncode == 1
        assert "out of date" in stale.stderr
        assert notebook.read_text() != original  # check mode wrote nothing
    finally:
        notebook.write_text(original)


def test_run_solution_scores_full_marks_and_blank_zero(built_repo: Path):
    solution = run_labs(built_repo, "run", "1", "--solution", "--json")
    assert solution.returncode == 0, solution.stderr
    data = json.loads(solution.stdout)
    assert (data["lab"], data["status"], data["score"], data["max_score"]) == (LAB, "graded", 10, 10)
    assert [e["id"] for e in data["exercises"]] == ["mean", "run_name"]
    blank = json.loads(run_labs(built_repo, "run", LAB, "--json").stdout)
    assert (blank["status"], blank["score"]) == ("graded", 0)


def test_grade_a_zip_writes_csv_json_and_feedback(built_repo: Path, tmp_path: Path):
    release = nbformat.read(str(built_repo / "labs" / f"{LAB}.ipynb"), as_version=4)
    archive = tmp_path / "class.zip"
    chosen = {c.name: c for c in CASES if c.name in ("correct", "corrupt_json", "wrong_plausible")}
    with zipfile.ZipFile(archive, "w") as zf:
        for name, case in chosen.items():
            zf.writestr(f"{name}.ipynb", case.make(release))
    out = tmp_path / "grades"
    result = run_labs(built_repo, "grade", "1", str(archive), "--out", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert (out / "grades.csv").exists() and (out / "grades.json").exists()
    assert sorted(p.stem for p in (out / "feedback").glob("*.html")) == sorted(chosen)
    data = json.loads((out / "grades.json").read_text())
    assert data["summary"]["by_status"] == {"graded": 2, "invalid": 1}


def test_unknown_lab_and_missing_path_are_clear_errors(built_repo: Path, tmp_path: Path):
    unknown = run_labs(built_repo, "run", "77")
    assert unknown.returncode == 2 and "no lab matches" in unknown.stderr
    missing = run_labs(built_repo, "grade", "1", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_check_and_progress(built_repo: Path, tmp_path: Path):
    assert "not started" in run_labs(built_repo, "progress").stdout
    release = nbformat.read(str(built_repo / "labs" / f"{LAB}.ipynb"), as_version=4)
    mine = tmp_path / f"{LAB}.ipynb"
    mine.write_bytes(next(c for c in CASES if c.name == "hardcoded_run_name").make(release))
    checked = run_labs(built_repo, "check", str(mine))
    assert checked.returncode == 0, checked.stderr
    assert "4/10" in checked.stdout and "RUN_ID" in checked.stdout
    assert "hidden tests" in checked.stdout
    assert "checked (graded" in run_labs(built_repo, "progress").stdout


def test_bundle_has_labs_but_no_solutions_or_hidden_tests(built_repo: Path, tmp_path: Path):
    out = tmp_path / "student.zip"
    result = run_labs(built_repo, "bundle", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert f"mlops-labs/labs/{LAB}.ipynb" in names
        assert not any("/solutions/" in n or "/tests/" in n for n in names)
        for name in names:
            text = zf.read(name).decode("utf-8", errors="ignore")
            assert "BEGIN HIDDEN TESTS" not in text or name.startswith("mlops-labs/autograder/")
            assert "sum(xs) / len(xs)" not in text


def test_check_in_a_student_bundle_runs_visible_checks_only(built_repo: Path, tmp_path: Path):
    import shutil

    student_copy = tmp_path / "bundle"
    shutil.copytree(built_repo, student_copy, ignore=shutil.ignore_patterns("solutions", ".labs"))
    release = nbformat.read(str(student_copy / "labs" / f"{LAB}.ipynb"), as_version=4)
    mine = tmp_path / f"{LAB}.ipynb"
    mine.write_bytes(next(c for c in CASES if c.name == "hardcoded_run_name").make(release))
    checked = run_labs(student_copy, "check", str(mine))
    assert checked.returncode == 0, checked.stderr
    assert "visible checks only" in checked.stdout
    assert "10/10" in checked.stdout  # the hidden RUN_ID test is not there to fail it
