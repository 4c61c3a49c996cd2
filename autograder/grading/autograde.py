"""Grade one submission in this process with nbgrader's Autograde converter.

The flow: validate the file -> repair the parameters cell and inject run
parameters (papermill) -> nbgrader autograde in a private course dir
(sanitize: restore locked/test cells and hidden tests from the gradebook,
re-add deleted graded cells; execute under limits; save grades) -> read the
scores back -> classify the outcome. Every path ends in a SubmissionResult;
nothing a student submits raises out of here.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shutil
import time
import traceback
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from traitlets.config import Config

from autograder import sandbox
from autograder.authoring import exercise_of_grade_id, exercises_of
from autograder.grading import audit, guard
from autograder.grading.executor import INTEGRITY_ERROR, GuardedExecute, RunReport
from autograder.grading.kernel import SandboxedKernelManager
from autograder.grading.outcomes import ExerciseResult, Status, SubmissionResult
from autograder.grading.validate import InvalidSubmission, load_submission
from autograder.nbgrader_course import COURSE_ID, NbgraderFailed, base_config, run_converter
from autograder.params import as_environment, inject

GRADER_VERSION = "2"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Limits:
    cell_timeout: int = 120  # seconds per cell (nbclient interrupts the kernel)
    wall_limit: float = 600.0  # seconds per notebook (the kernel is killed)
    max_output_bytes: int = 2_000_000
    memory_mb: int = 2048  # the kernel tree (cgroup), or each process (RLIMIT_AS) without one
    max_processes: int = 256  # tasks (processes and threads) in the kernel tree
    max_file_mb: int = 100  # largest file the kernel may write (RLIMIT_FSIZE); also its /tmp size
    sandbox: str = "auto"  # the strongest level to use: auto (the best available) or one of sandbox.LEVELS


@dataclass
class GradeJob:
    lab_id: str
    grading_root: Path  # course dir with the lab's gradebook (autograder.build.grading_root)
    release: Path  # the student notebook as released (labs/<lab>.ipynb)
    submission: Path
    student: str
    workdir: Path  # scratch space owned by this job
    params: dict = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    share_net: bool | None = None  # None: when the params carry service endpoints

    def needs_network(self) -> bool:
        if self.share_net is not None:
            return self.share_net
        return any(key not in ("RUN_ID", "FAST", "DATA_DIR") for key in self.params)


def safe_student_id(name: str) -> str:
    cleaned = _SAFE_ID.sub("_", name).strip("._") or "student"
    return cleaned[:64]


def sha256_file(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def dedupe_graded_cells(nb: NotebookNode) -> NotebookNode:
    """A grade_id or cell id used twice: the first cell keeps it; later copies become plain student cells.

    nbgrader fails on duplicated grade ids; a copy must never stand in for the real check, whose
    source nbgrader restores from the gradebook anyway.
    """
    nb = copy.deepcopy(nb)
    grade_ids: set[str] = set()
    cell_ids: set[str] = set()
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in grade_ids:
            cell.metadata.pop("nbgrader")
        elif grade_id:
            grade_ids.add(grade_id)
        if cell.get("id") in cell_ids:
            cell["id"] = f"dup-{index}"
        cell_ids.add(cell.get("id"))
    return nb


def restore_parameters_cell(nb: NotebookNode, release: NotebookNode) -> NotebookNode:
    """Make sure the locked parameters cell exists and is tagged, so injection lands after it.

    nbgrader restores the cell's source later; this only fixes its place and
    tag, which nbgrader does not look at.
    """
    template_index = next((i for i, c in enumerate(release.cells) if "parameters" in c.metadata.get("tags", [])), None)
    if template_index is None:
        return nb
    template = release.cells[template_index]
    grade_id = template.metadata["nbgrader"]["grade_id"]
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # a student-added tag elsewhere must not move the injection point
        tags = cell.metadata.get("tags")
        if tags and "parameters" in tags:
            tags.remove("parameters")
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell.metadata.setdefault("tags", []).append("parameters")
            return nb
    nb.cells.insert(min(template_index, len(nb.cells)), copy.deepcopy(template))
    return nb


def _autograde_config(job: GradeJob, root: Path) -> Config:
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    config = base_config(root)
    config.CourseDirectory.assignment_id = job.lab_id
    config.CourseDirectory.student_id = safe_student_id(job.student)
    config.Autograde.create_student = True
    config.Autograde.autograde_preprocessors = [
        GuardedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]
    config.OverwriteCells.add_missing_cells = True
    config.GuardedExecute.timeout = job.limits.cell_timeout
    config.GuardedExecute.wall_limit = job.limits.wall_limit
    config.GuardedExecute.max_output_bytes = job.limits.max_output_bytes
    config.GuardedExecute.kernel_name = "python3"
    config.GuardedExecute.kernel_manager_class = SandboxedKernelManager
    config.GuardedExecute.watch_modules = guard.imported_modules(_lab_sources(job))
    level, _ = sandbox.detect(job.limits.sandbox)
    km = config.SandboxedKernelManager
    km.sandbox_dir = str(job.workdir / "sandbox")
    km.level = level
    km.memory_bytes = job.limits.memory_mb * 1024**2
    km.max_tasks = job.limits.max_processes
    km.max_file_bytes = job.limits.max_file_mb * 1024**2
    km.share_net = job.needs_network()
    km.lab_env = as_environment(job.params)
    data_dir = str(job.params.get("DATA_DIR", ""))
    km.readonly_paths = ([data_dir] if data_dir else []) + socket_dirs(job.params)
    return config


def socket_dirs(params: dict) -> list[str]:
    """Endpoints that are unix sockets (the container engine's DOCKER_HOST): the kernel must see their dir.
    A read-only bind still lets the kernel connect(); it cannot replace or remove the socket."""
    dirs = {str(Path(v.removeprefix("unix://")).parent) for v in params.values() if str(v).startswith("unix://")}
    return sorted(dirs)


def _lab_sources(job: GradeJob) -> list[str]:
    """The lab's own code cells (locked setup and visible checks), from the released notebook."""
    with suppress(Exception):
        release = nbformat.read(str(job.release), as_version=4)
        return [
            c.source for c in release.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("locked")
        ]
    return []


def _prepare_course(job: GradeJob, nb: NotebookNode) -> Path:
    root = job.workdir / "course"
    if root.exists():
        shutil.rmtree(root)
    (root / "source").mkdir(parents=True)
    shutil.copytree(job.grading_root / "source" / job.lab_id, root / "source" / job.lab_id)
    shutil.copy2(job.grading_root / "gradebook.db", root / "gradebook.db")
    target = root / "submitted" / safe_student_id(job.student) / job.lab_id / f"{job.lab_id}.ipynb"
    target.parent.mkdir(parents=True)
    nbformat.write(nb, str(target))
    return root


def _error_message(cell: NotebookNode) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip()
            return f"{output.get('ename', 'Error')}: {value}" if value else str(output.get("ename", "Error"))
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "the check wrote to stderr: " + str(output.get("text", ""))[:300]
    return ""


def _limit_errors(nb: NotebookNode) -> set[str]:
    """Limits that surfaced as exceptions in cells (the kernel survived them)."""
    hit: set[str] = set()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            ename, evalue = str(output.get("ename", "")), str(output.get("evalue", ""))
            if ename == "MemoryError":
                hit.add("memory")
            elif "Resource temporarily unavailable" in evalue or ename == "BlockingIOError":
                hit.add("processes")
            elif "File too large" in evalue:
                hit.add("disk")
    return hit


def _collect_scores(job: GradeJob, root: Path) -> tuple[list[ExerciseResult], RunReport, set[str]]:
    from nbgrader.api import Gradebook

    student = safe_student_id(job.student)
    graded_nb = nbformat.read(str(root / "autograded" / student / job.lab_id / f"{job.lab_id}.ipynb"), as_version=4)
    messages = {}
    for cell in graded_nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id and cell.metadata["nbgrader"].get("grade"):
            messages[grade_id] = _error_message(cell)

    release = nbformat.read(str(job.release), as_version=4)
    exercises = {e.id: ExerciseResult(e.id, e.title, 0.0, e.points, False, "") for e in exercises_of(release)}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", COURSE_ID) as gb:
        submission = gb.find_submission_notebook(job.lab_id, job.lab_id, student)
        for grade in submission.grades:
            ex_id = exercise_of_grade_id(grade.name)
            result = exercises.setdefault(ex_id, ExerciseResult(ex_id, ex_id, 0.0, 0.0, False, ""))
            result.score += float(grade.score or 0.0)
            if messages.get(grade.name) and not result.message:
                result.message = messages[grade.name]
    for result in exercises.values():
        result.passed = result.score >= result.max_score > 0
    return list(exercises.values()), GuardedExecute.last_run, _limit_errors(graded_nb)


def make_result(job: GradeJob, status: Status, message: str, started: float, **extra) -> SubmissionResult:
    release_points = 0.0
    with suppress(Exception):  # a missing release only loses the max score in this message path
        release_points = sum(e.points for e in exercises_of(nbformat.read(str(job.release), as_version=4)))
    fields = {"score": 0.0, "max_score": release_points, "exercises": [], "limits_hit": [], "flags": []} | extra
    return SubmissionResult(
        student=job.student,
        lab=job.lab_id,
        status=status,
        message=message,
        submission_sha256=sha256_file(job.submission),
        grader_version=GRADER_VERSION,
        seconds=round(time.monotonic() - started, 2),
        sandbox=sandbox.detect(job.limits.sandbox)[0],
        **fields,
    )


def _classify_failure(job: GradeJob, error: NbgraderFailed, started: float, flags: list[str]) -> SubmissionResult:
    report = GuardedExecute.last_run
    cell = f"cell {report.current_cell}" if report.current_cell is not None else "a cell"
    if report.wall_limit_hit:
        return make_result(
            job,
            Status.TIMEOUT,
            f"the notebook ran past its {job.limits.wall_limit:.0f} s limit while running {cell}; "
            "look for an infinite loop or a very slow step",
            started,
            limits_hit=["wall_limit"] + (["processes"] if report.process_limit_hit else []),
            flags=flags,
        )
    if report.stuck:
        return make_result(
            job,
            Status.TIMEOUT,
            f"{cell} ran past the {job.limits.cell_timeout} s per-cell limit and did not stop when interrupted; "
            "the kernel was stopped, so no points could be awarded (an infinite loop or a fork bomb?)",
            started,
            limits_hit=["cell_timeout"] + (["processes"] if report.process_limit_hit else []),
            flags=flags,
        )
    if report.kernel_died:
        memory = report.memory_limit_hit or "SIGKILL" in report.kernel_exit
        why = (
            f"it went over the {job.limits.memory_mb} MB memory limit"
            if memory
            else "os._exit, exit(), a crash, or a kill?"
        )
        return make_result(
            job,
            Status.CRASHED,
            f"{report.kernel_exit} while running {cell}; no points could be awarded because the "
            f"notebook did not finish ({why})",
            started,
            limits_hit=(["memory"] if memory else []) + (["processes"] if report.process_limit_hit else []),
            flags=flags,
        )
    # exception lines only: the log also previews cell sources, hidden tests included
    errors = [line for line in error.log.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    tail = "\n".join(errors[-2:])
    return make_result(job, Status.ERROR, f"nbgrader failed: {error}\n{tail}", started, flags=flags)


def grade_submission(job: GradeJob) -> SubmissionResult:
    """Grade one file; always returns a result, whatever the file holds."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    started = time.monotonic()
    GuardedExecute.last_run = RunReport()
    try:
        nb = load_submission(job.submission)
    except InvalidSubmission as exc:
        return make_result(job, Status.INVALID, str(exc), started)
    level, reason = sandbox.detect(job.limits.sandbox)
    sandbox.warn_if_weak(level, reason)
    flags = audit.flags(nb)
    try:
        release = nbformat.read(str(job.release), as_version=4)
        nb = inject(restore_parameters_cell(dedupe_graded_cells(nb), release), job.params)
        job.workdir.mkdir(parents=True, exist_ok=True)
        root = _prepare_course(job, nb)
        config = _autograde_config(job, root)
        app = Autograde(coursedir=CourseDirectory(config=config), config=config)
        app.force = True
        try:
            run_converter(app)
        except NbgraderFailed as failure:
            return _classify_failure(job, failure, started, flags)
        exercises, report, raised = _collect_scores(job, root)
    except Exception as exc:  # the grader's own failure: report it, never crash the batch
        detail = f"grader error: {exc!r}\n{traceback.format_exc(limit=3)}"
        return make_result(job, Status.ERROR, detail, started, flags=flags)
    finally:
        shutil.rmtree(job.workdir / "sandbox", ignore_errors=True)
    return _graded_result(job, started, exercises, report, raised, flags)


_LIMIT_WORDS = {
    "memory": "a cell ran out of memory (limit {memory_mb} MB)",
    "processes": "a cell hit the limit of {max_processes} processes/threads",
    "disk": "a cell tried to write a file over {max_file_mb} MB",
}


def _graded_result(
    job: GradeJob,
    started: float,
    exercises: list[ExerciseResult],
    report: RunReport,
    raised: set[str],
    flags: list[str],
) -> SubmissionResult:
    limits_hit: list[str] = []
    status, message = Status.GRADED, ""
    if report.cell_timeouts:
        limits_hit.append("cell_timeout")
        status = Status.TIMEOUT
        message = (
            f"cell(s) {report.cell_timeouts} ran past the {job.limits.cell_timeout} s per-cell limit and "
            "were interrupted; the rest of the notebook was graded"
        )
    if report.output_truncated:
        limits_hit.append("output")
        message = (message + "; " if message else "") + (
            f"output beyond {job.limits.max_output_bytes} bytes was dropped"
        )
    if report.memory_limit_hit:
        raised.add("memory")
    if report.process_limit_hit:
        raised.add("processes")
    for name in ("memory", "processes", "disk"):
        if name in raised:
            limits_hit.append(name)
            words = _LIMIT_WORDS[name].format(**vars(job.limits))
            message = (message + "; " if message else "") + words
    if report.integrity_failures:
        limits_hit.append("integrity")
        message = (message + "; " if message else "") + (
            f"check cell(s) {report.integrity_failures} did not run as written ({INTEGRITY_ERROR}): code in "
            "the notebook changed how checks run, so they scored 0"
        )
    return make_result(
        job,
        status,
        message,
        started,
        score=sum(e.score for e in exercises),
        max_score=sum(e.max_score for e in exercises),
        exercises=exercises,
        limits_hit=limits_hit,
        flags=flags,
    )
