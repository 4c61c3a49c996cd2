"""Run one lab notebook through the grader: `labs run` (CI, authors) and `labs check` (students)."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import nbformat

from autograder.build import LabSource, grading_root
from autograder.catalog import Module
from autograder.grading.autograde import GradeJob, Limits, grade_submission
from autograder.grading.outcomes import SubmissionResult
from autograder.params import lab_parameters
from autograder.paths import STATE_DIR

PROGRESS_FILE = STATE_DIR / "progress.json"


def new_run_id(lab_id: str) -> str:
    """Short and unique, so resources named from it never collide between runs or students."""
    return f"{lab_id.split('_')[0]}-{uuid.uuid4().hex[:8]}"


def prepare_data() -> None:
    """Build the CI-size datasets before any kernel starts: graded kernels see the data dir read-only."""
    import mlops_datasets

    mlops_datasets.build(size="ci")


def start_services(module: Module) -> dict[str, str]:
    """Start what the lab needs (no-op when it needs nothing); return the endpoint variables."""
    if not module.services:
        return {}
    from autograder.services.commands import ensure

    return ensure(module.services)


def grade_notebook(
    lab: LabSource,
    notebook: Path,
    *,
    student: str,
    endpoints: dict[str, str],
    fast: bool = True,
    limits: Limits | None = None,
    visible_only: bool = False,
    keep: Path | None = None,
) -> SubmissionResult:
    """Grade one notebook; with `keep`, also save the executed notebook there (outputs and errors)."""
    params = lab_parameters(new_run_id(lab.lab_id), fast, endpoints=endpoints)
    root = grading_root(lab, visible_only=visible_only)
    with tempfile.TemporaryDirectory(prefix="labs-run-") as tmp:
        job = GradeJob(lab.lab_id, root, lab.released, notebook, student, Path(tmp), params, limits or Limits())
        result = grade_submission(job)
        executed = Path(tmp) / "course" / "autograded" / student / lab.lab_id / f"{lab.lab_id}.ipynb"
        if keep is not None and executed.exists():
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(executed, keep / f"{lab.lab_id}.{student}.ipynb")
        return result


def run_lab(
    module: Module, *, solution: bool, fast: bool = True, limits: Limits | None = None, keep: Path | None = None
) -> SubmissionResult:
    """Execute and score the lab's solution, or its blank student version, with services up."""
    lab = LabSource.for_lab(module.lab)
    prepare_data()
    endpoints = start_services(module)
    with tempfile.TemporaryDirectory(prefix="labs-src-") as tmp:
        if solution:
            notebook = Path(tmp) / f"{lab.lab_id}.ipynb"
            nbformat.write(lab.compiled(), str(notebook))
        else:
            notebook = lab.released
        student = "solution" if solution else "blank"
        return grade_notebook(lab, notebook, student=student, endpoints=endpoints, fast=fast, limits=limits, keep=keep)


def check_notebook(module: Module, notebook: Path, *, fast: bool = False) -> tuple[SubmissionResult, bool]:
    """A student's self-check; hidden tests only when the lab's source is at hand."""
    lab = LabSource.for_lab(module.lab)
    visible_only = not lab.source.exists()
    prepare_data()
    endpoints = start_services(module)
    result = grade_notebook(lab, notebook, student="me", endpoints=endpoints, fast=fast, visible_only=visible_only)
    record_progress(result)
    return result, visible_only


def record_progress(result: SubmissionResult, path: Path = PROGRESS_FILE) -> None:
    data = load_progress(path)
    data[result.lab] = {
        "score": result.score,
        "max_score": result.max_score,
        "status": str(result.status),
        "checked_at": time.strftime("%Y-%m-%d %H:%M"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def load_progress(path: Path = PROGRESS_FILE) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
