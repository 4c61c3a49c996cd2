"""The notebook suite: every lab marked done scores full marks with its solution and 0 when blank."""

from __future__ import annotations

import pytest

from autograder import catalog
from autograder.grading.autograde import Limits
from autograder.runner import run_lab

DONE = [m for m in catalog.modules() if m.done]
LIMITS = Limits(cell_timeout=300, wall_limit=600)

pytestmark = [pytest.mark.notebooks, pytest.mark.services]


@pytest.mark.parametrize("module", DONE, ids=[m.lab for m in DONE])
def test_solution_scores_full_marks(module: catalog.Module):
    result = run_lab(module, solution=True, limits=LIMITS)
    failing = {e.id: e.message for e in result.exercises if not e.passed}
    assert result.status == "graded", result.message
    assert result.score == result.max_score == 10, failing


@pytest.mark.parametrize("module", DONE, ids=[m.lab for m in DONE])
def test_blank_version_is_graded_zero(module: catalog.Module):
    result = run_lab(module, solution=False, limits=LIMITS)
    assert result.status == "graded", result.message
    assert result.score == 0, {e.id: e.score for e in result.exercises if e.score}
