"""Compile a lab's text source (jupytext percent script) into an nbgrader notebook.

Authors write `solutions/<lab>.py` with compact markers in the cell headers:

    # %% tags=["parameters"]          parameters cell (papermill injects after it; locked)
    # %% answer="train_model"         the student's answer cell; the solution goes
                                      between `### BEGIN SOLUTION` / `### END SOLUTION`
    # %% check="train_model" points=3 a locked test cell: visible self-checks, then
                                      hidden tests between `### BEGIN HIDDEN TESTS` /
                                      `### END HIDDEN TESTS`
    # %% locked=true                  any other cell students must not change

Everything else is ordinary jupytext (markdown cells, plain code cells). This
module turns the markers into nbgrader cell metadata, gives every cell a stable
id, and validates the structure so a broken lab fails at build time, not in a
student's hands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbformat import NotebookNode

NBGRADER_SCHEMA = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_MARKER_KEYS = ("answer", "check", "points", "locked", "title")
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,48}$")


class LabSourceError(ValueError):
    """The lab source breaks an authoring rule; the message names the cell."""


@dataclass(frozen=True)
class Exercise:
    id: str
    points: float
    title: str


def _nbgrader_meta(grade_id: str, *, solution: bool, grade: bool, locked: bool, points: float = 0) -> dict:
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": NBGRADER_SCHEMA,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return meta


def _where(index: int, cell: NotebookNode) -> str:
    first = cell.source.strip().splitlines()[0] if cell.source.strip() else "<empty>"
    return f"cell {index} ({first[:60]!r})"


def _check_markers(index: int, cell: NotebookNode, kind: str) -> None:
    src = cell.source
    has_solution = "### BEGIN SOLUTION" in src or "### END SOLUTION" in src
    has_hidden = "### BEGIN HIDDEN TESTS" in src or "### END HIDDEN TESTS" in src
    if has_solution and kind != "answer":
        raise LabSourceError(f"{_where(index, cell)}: solution markers outside an answer cell")
    if has_hidden and kind != "check":
        raise LabSourceError(f"{_where(index, cell)}: hidden-test markers outside a check cell")
    if kind == "answer" and src.count("### BEGIN SOLUTION") != src.count("### END SOLUTION"):
        raise LabSourceError(f"{_where(index, cell)}: unbalanced BEGIN/END SOLUTION markers")
    if kind == "check" and src.count("### BEGIN HIDDEN TESTS") != src.count("### END HIDDEN TESTS"):
        raise LabSourceError(f"{_where(index, cell)}: unbalanced BEGIN/END HIDDEN TESTS markers")


def compile_notebook(nb: NotebookNode, lab_id: str, expected_points: float | None = None) -> NotebookNode:
    """Turn marker metadata into nbgrader metadata in place and return the notebook."""
    answers: dict[str, int] = {}
    titles: dict[str, str] = {}
    check_counts: dict[str, int] = {}
    exercises: dict[str, Exercise] = {}
    locked_count = 0
    heading = ""  # the latest markdown heading names the exercise that follows it
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            found = re.search(r"^#{1,4}\s+(.+)$", cell.source, re.MULTILINE)
            heading = found.group(1).strip() if found else heading
        markers = {k: cell.metadata.pop(k) for k in _MARKER_KEYS if k in cell.metadata}
        cell.metadata.pop("lines_to_next_cell", None)
        tags = cell.metadata.get("tags", [])
        cell["id"] = f"cell-{index:03d}"
        kind = "answer" if "answer" in markers else "check" if "check" in markers else "plain"
        if kind != "plain" and cell.cell_type != "code":
            raise LabSourceError(f"{_where(index, cell)}: {kind} markers belong on code cells")
        _check_markers(index, cell, kind)

        if kind == "answer":
            ex_id = str(markers["answer"])
            if not _ID_RE.match(ex_id):
                where = _where(index, cell)
                raise LabSourceError(f"{where}: answer id {ex_id!r} must match {_ID_RE.pattern}")
            if ex_id in answers:
                raise LabSourceError(f"{_where(index, cell)}: answer {ex_id!r} defined twice")
            if "### BEGIN SOLUTION" not in cell.source:
                raise LabSourceError(f"{_where(index, cell)}: answer cell has no ### BEGIN SOLUTION region")
            answers[ex_id] = index
            titles[ex_id] = str(markers.get("title", heading or ex_id))
            cell.metadata["nbgrader"] = _nbgrader_meta(ex_id, solution=True, grade=False, locked=False)
            cell["id"] = ex_id
        elif kind == "check":
            ex_id = str(markers["check"])
            if ex_id not in answers:
                raise LabSourceError(f"{_where(index, cell)}: check {ex_id!r} comes before its answer cell")
            points = markers.get("points")
            if not isinstance(points, int | float) or points <= 0:
                raise LabSourceError(f"{_where(index, cell)}: check {ex_id!r} needs points=<positive number>")
            check_counts[ex_id] = check_counts.get(ex_id, 0) + 1
            suffix = "" if check_counts[ex_id] == 1 else str(check_counts[ex_id])
            grade_id = f"{ex_id}-check{suffix}"
            cell.metadata["nbgrader"] = _nbgrader_meta(grade_id, solution=False, grade=True, locked=True, points=points)
            cell["id"] = grade_id
            previous = exercises.get(ex_id, Exercise(ex_id, 0, titles[ex_id]))
            exercises[ex_id] = Exercise(ex_id, previous.points + points, titles[ex_id])
        elif markers.get("locked") or "parameters" in tags:
            locked_count += 1
            cell.metadata["nbgrader"] = _nbgrader_meta(
                f"locked-{locked_count}", solution=False, grade=False, locked=True
            )
    unchecked = set(answers) - set(exercises)
    if unchecked:
        raise LabSourceError(f"{lab_id}: answer cells without a check cell: {sorted(unchecked)}")
    total = sum(ex.points for ex in exercises.values())
    if expected_points is not None and abs(total - expected_points) > 1e-9:
        raise LabSourceError(f"{lab_id}: points add up to {total}, expected {expected_points}")

    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["labs"] = {
        "lab": lab_id,
        "exercises": [{"id": e.id, "points": e.points, "title": e.title} for e in exercises.values()],
        "total_points": total,
    }
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def read_source(path: Path, expected_points: float | None = None) -> NotebookNode:
    """Read `solutions/<lab>.py` and compile it; the lab id is the file stem."""
    if not path.exists():
        raise FileNotFoundError(f"lab source not found: {path}")
    nb = jupytext.read(path, fmt="py:percent")
    return compile_notebook(nb, path.stem, expected_points)


def exercises_of(nb: NotebookNode) -> list[Exercise]:
    """Exercises recorded in a compiled (or released) notebook's metadata."""
    raw = nb.metadata.get("labs", {}).get("exercises", [])
    return [Exercise(e["id"], float(e["points"]), e.get("title", e["id"])) for e in raw]


def exercise_of_grade_id(grade_id: str) -> str:
    """`train-check2` -> `train`: the exercise a check cell belongs to."""
    return re.sub(r"-check\d*$", "", grade_id)
