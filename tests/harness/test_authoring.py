"""Compact markers compile to nbgrader metadata; broken sources fail at build time with a clear message."""

from __future__ import annotations

from pathlib import Path

import jupytext
import pytest

from autograder.authoring import LabSourceError, compile_notebook, exercise_of_grade_id, exercises_of, read_source
from tests.conftest import FIXTURE_SOURCE

HEADER = (
    "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n#     name: python3\n"
    "#     language: python\n# ---\n\n"
)


def compile_text(body: str, expected_points: float | None = None):
    nb = jupytext.reads(HEADER + body, fmt="py:percent")
    return compile_notebook(nb, "lab", expected_points)


def test_markers_become_nbgrader_metadata():
    nb = read_source(FIXTURE_SOURCE, expected_points=10)
    meta = {c.id: c.metadata.get("nbgrader") for c in nb.cells}
    assert meta["mean"]["solution"] is True and meta["mean"]["grade"] is False
    assert meta["mean-check"] == {
        "grade": True,
        "grade_id": "mean-check",
        "locked": True,
        "points": 4,
        "schema_version": 3,
        "solution": False,
        "task": False,
    }
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert params.metadata["nbgrader"]["locked"] is True
    assert [(e.id, e.points) for e in exercises_of(nb)] == [("mean", 4), ("run_name", 6)]
    assert exercises_of(nb)[0].title == "Exercise 1: mean of a list"
    assert "jupytext" not in nb.metadata


def test_cell_ids_are_stable():
    a = read_source(FIXTURE_SOURCE)
    b = read_source(FIXTURE_SOURCE)
    assert [c.id for c in a.cells] == [c.id for c in b.cells]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('# %% check="x" points=1\nassert True\n', "comes before its answer"),
        ('# %% answer="x"\ny = 1\n', "no ### BEGIN SOLUTION"),
        ('# %% answer="x"\n### BEGIN SOLUTION\ny = 1\n### END SOLUTION\n', "without a check cell"),
        ('# %% answer="x"\n### BEGIN SOLUTION\ny=1\n### END SOLUTION\n\n# %% check="x"\nassert y\n', "needs points"),
        ("# %%\n### BEGIN SOLUTION\ny = 1\n### END SOLUTION\n", "outside an answer cell"),
        ("# %%\n### BEGIN HIDDEN TESTS\nassert 1\n### END HIDDEN TESTS\n", "outside a check cell"),
        ('# %% answer="x"\n### BEGIN SOLUTION\ny = 1\n', "unbalanced"),
        ('# %% answer="bad id!"\n### BEGIN SOLUTION\ny=1\n### END SOLUTION\n', "must match"),
        ('# %% [markdown] answer="x"\n# text\n', "belong on code cells"),
    ],
)
def test_broken_sources_are_rejected(body: str, message: str):
    with pytest.raises(LabSourceError, match=message):
        compile_text(body)


def test_points_must_add_up_to_the_course_total():
    body = '# %% answer="x"\n### BEGIN SOLUTION\ny = 1\n### END SOLUTION\n\n# %% check="x" points=3\nassert y\n'
    assert compile_text(body, expected_points=3).metadata["labs"]["total_points"] == 3
    with pytest.raises(LabSourceError, match="add up to 3"):
        compile_text(body, expected_points=10)


def test_second_check_of_an_exercise_gets_its_own_grade_id():
    body = (
        '# %% answer="x"\n### BEGIN SOLUTION\ny = 1\n### END SOLUTION\n\n'
        '# %% check="x" points=1\nassert y\n\n# %% check="x" points=2\nassert y == 1\n'
    )
    nb = compile_text(body)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert ids == ["x-check", "x-check2"]
    assert [exercise_of_grade_id(i) for i in ids] == ["x", "x"]
    assert exercises_of(nb)[0].points == 3


def test_missing_source_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="lab source not found"):
        read_source(tmp_path / "nope.py")
