"""Grade a class: many submissions of one lab in parallel worker processes.

nbgrader has no parallel autograde, so each worker process grades one
submission at a time in its own course dir with its own gradebook copy.
Results are written one JSON per student as they finish, which makes a
batch resumable (a killed run picks up where it stopped) and idempotent
(an unchanged submission is not regraded).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import nbformat
import psutil

from autograder.authoring import exercises_of
from autograder.build import LabSource, grading_root
from autograder.grading.autograde import (
    GRADER_VERSION,
    GradeJob,
    Limits,
    grade_submission,
    make_result,
    sha256_file,
)
from autograder.grading.outcomes import Status, SubmissionResult
from autograder.grading.submissions import Submission, collect

WORKER_MEMORY_BYTES = 1_500_000_000  # a worker plus its kernel, for the labs' typical footprint


def default_workers(jobs: int) -> int:
    by_memory = max(1, int(psutil.virtual_memory().available // WORKER_MEMORY_BYTES))
    return max(1, min(os.cpu_count() or 1, by_memory, jobs))


def _warm_worker() -> None:
    """Import the heavy modules once per worker, not once per submission."""
    import warnings

    warnings.filterwarnings("ignore")  # SQLAlchemy chatter from nbgrader's gradebook
    import nbgrader.converters  # noqa: F401
    import papermill.parameterize  # noqa: F401


@dataclass
class BatchPlan:
    lab: LabSource
    out_dir: Path
    params: dict
    limits: Limits

    @property
    def results_dir(self) -> Path:
        return self.out_dir / "results"

    def result_path(self, student: str) -> Path:
        return self.results_dir / f"{student}.json"

    def fingerprint(self) -> dict:
        return {"lab": self.lab.lab_id, "source": self.lab.source_hash(), "grader": GRADER_VERSION}


def _cached(plan: BatchPlan, sub: Submission) -> SubmissionResult | None:
    path = plan.result_path(sub.student)
    if not path.exists() or sub.path is None:
        return None
    try:
        result = SubmissionResult.from_json(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError):
        return None  # a half-written or stale file: grade again
    if result.submission_sha256 != sha256_file(sub.path) or result.status == Status.ERROR:
        return None
    return result


def _save(plan: BatchPlan, result: SubmissionResult) -> None:
    path = plan.result_path(result.student)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1))
    tmp.replace(path)  # atomic: a kill mid-write never leaves a torn result


def _missing_notebook(plan: BatchPlan, sub: Submission) -> SubmissionResult:
    release = nbformat.read(str(plan.lab.released), as_version=4)
    return SubmissionResult(
        sub.student,
        plan.lab.lab_id,
        Status.INVALID,
        0.0,
        sum(e.points for e in exercises_of(release)),
        message=sub.problem,
        grader_version=GRADER_VERSION,
    )


def _prepare_results_dir(plan: BatchPlan) -> None:
    """Start clean when the lab or grader changed since the results on disk were made."""
    marker = plan.out_dir / "batch.json"
    plan.results_dir.mkdir(parents=True, exist_ok=True)
    if marker.exists() and json.loads(marker.read_text()) != plan.fingerprint():
        shutil.rmtree(plan.results_dir)
        plan.results_dir.mkdir()
    marker.write_text(json.dumps(plan.fingerprint()))


def student_params(params: dict, student: str) -> dict:
    """Each submission gets its own RUN_ID: labs name buckets, topics and tables from it, and parallel
    workers sharing one name would clean up or read each other's resources."""
    suffix = hashlib.sha256(student.encode()).hexdigest()[:6]
    return {**params, "RUN_ID": f"{params.get('RUN_ID', 'grade')}-{suffix}"}


def grade_batch(
    lab: LabSource,
    submissions: Path,
    out_dir: Path,
    *,
    params: dict,
    limits: Limits | None = None,
    workers: int | None = None,
    on_result: Callable[[SubmissionResult, bool], None] | None = None,
    runner: Runner | None = None,
) -> list[SubmissionResult]:
    """Grade every submission; `on_result(result, cached)` reports progress as each finishes.

    `runner` decides where jobs run: local worker processes (default) or a Ray cluster (RayRunner).
    """
    plan = BatchPlan(lab, out_dir, params, limits or Limits())
    out_dir.mkdir(parents=True, exist_ok=True)
    _prepare_results_dir(plan)
    subs = collect(submissions, lab.lab_id, out_dir / ".scratch")
    root = grading_root(lab)
    results: dict[str, SubmissionResult] = {}
    todo: list[GradeJob] = []
    for sub in subs:
        cached = _cached(plan, sub)
        if cached is None and sub.path is None:
            cached = _missing_notebook(plan, sub)
            _save(plan, cached)
        if cached is not None:
            results[sub.student] = cached
            if on_result:
                on_result(cached, True)
            continue
        workdir = out_dir / ".work" / sub.student
        job_params = student_params(params, sub.student)
        todo.append(GradeJob(lab.lab_id, root, lab.released, sub.path, sub.student, workdir, job_params, plan.limits))

    runner = runner or LocalRunner(workers or default_workers(len(todo)))
    for result in runner.run(todo) if todo else ():
        _save(plan, result)
        results[result.student] = result
        shutil.rmtree(out_dir / ".work" / result.student, ignore_errors=True)
        if on_result:
            on_result(result, False)
    return [results[s.student] for s in subs]


class Runner(Protocol):
    """Where grading jobs run. Each yields one result per job, in any order, as they finish."""

    def run(self, jobs: list[GradeJob]) -> Iterator[SubmissionResult]: ...


@dataclass
class LocalRunner:
    workers: int

    def run(self, jobs: list[GradeJob]) -> Iterator[SubmissionResult]:
        return _run_pool(jobs, self.workers)


def _run_pool(jobs: list[GradeJob], workers: int) -> Iterator[SubmissionResult]:
    """Yield results as they finish; a dead worker costs its job one retry, never the batch."""
    pending = list(jobs)
    attempts: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    while pending:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_warm_worker) as pool:
            futures: dict[Future, GradeJob] = {pool.submit(grade_submission, job): job for job in pending}
            pending = []
            for future in as_completed(futures):
                job = futures[future]
                try:
                    yield future.result()
                except BrokenProcessPool:
                    attempts[job.student] = attempts.get(job.student, 0) + 1
                    if attempts[job.student] >= 2:
                        yield _worker_lost(job)
                    else:
                        pending.append(job)


def _worker_lost(job: GradeJob) -> SubmissionResult:
    return make_result(
        job,
        Status.CRASHED,
        "the grading worker process died twice on this submission (killed by the system?)",
        time.monotonic(),
    )


def _grade_on_ray(job: GradeJob) -> SubmissionResult:
    _warm_worker()
    return grade_submission(job)


@dataclass
class RayRunner:
    """The same jobs as Ray tasks: `address` is a running cluster (host:port, "auto"), or "local" to
    start one on this machine. Paths in a job (lab, submission, work dir) must be visible on every
    node: grade from shared storage when the cluster spans machines.
    """

    address: str
    cpus_per_job: float = 1.0
    local_cpus: int | None = None

    def run(self, jobs: list[GradeJob]) -> Iterator[SubmissionResult]:
        import ray

        if not ray.is_initialized():
            if self.address == "local":
                ray.init(num_cpus=self.local_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=self.address, log_to_driver=False)
        task = ray.remote(num_cpus=self.cpus_per_job, max_retries=1)(_grade_on_ray)
        refs = {task.remote(job): job for job in jobs}
        waiting = list(refs)
        while waiting:
            done, waiting = ray.wait(waiting, num_returns=1)
            for ref in done:
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayError:  # the task's worker died twice (retried once by Ray)
                    yield _worker_lost(refs[ref])
