"""What grading one submission can end in, as plain data (JSON in, JSON out)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    GRADED = "graded"  # every cell ran (errors in cells are the student's; tests scored)
    TIMEOUT = "timeout"  # a cell exceeded the per-cell timeout, or the notebook its wall limit
    CRASHED = "crashed"  # the kernel died (os._exit, segfault, killed); never a silent 0 or pass
    INVALID = "invalid"  # not a gradable notebook: empty, corrupt JSON, wrong kernel language...
    ERROR = "error"  # the grader itself failed; a bug or broken environment, not the student's fault


@dataclass
class ExerciseResult:
    id: str
    title: str
    score: float
    max_score: float
    passed: bool
    message: str = ""  # the failing check's error (type: message), never its source


@dataclass
class SubmissionResult:
    student: str
    lab: str
    status: Status
    score: float
    max_score: float
    exercises: list[ExerciseResult] = field(default_factory=list)
    message: str = ""  # why the status is what it is, in words for the student/instructor
    # cell_timeout, wall_limit, memory, processes, disk, output; integrity: a check did not run as written
    limits_hit: list[str] = field(default_factory=list)
    submission_sha256: str = ""
    grader_version: str = ""
    seconds: float = 0.0
    sandbox: str = ""  # none | rlimits | bwrap | bwrap+cgroup: how the kernel was confined
    flags: list[str] = field(default_factory=list)  # grader machinery the student's code touched (audit.py)

    def to_json(self) -> dict:
        data = asdict(self)
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_json(cls, data: dict) -> SubmissionResult:
        data = dict(data)
        data["status"] = Status(data["status"])
        data["exercises"] = [ExerciseResult(**e) for e in data.get("exercises", [])]
        return cls(**data)
