"""The adversarial corpus graded as one class: each attack gets its outcome and gains nothing.

One module-scoped batch (2 workers, small limits) keeps this to a few minutes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
import pytest

from autograder import sandbox
from autograder.build import LabSource, grading_root
from autograder.grading.autograde import Limits
from autograder.grading.batch import grade_batch
from autograder.grading.report import write_reports
from tests.fixtures.adversarial import ATTACKS, REPO_ROOT

LIMITS = Limits(cell_timeout=5, wall_limit=30, memory_mb=512, max_processes=64, max_file_mb=20)
PARAMS = {"RUN_ID": "r42", "FAST": True}
STRONG = sandbox.detect()[0] == "bwrap+cgroup"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def attacked(fixture_lab: LabSource, tmp_path_factory):
    subs = tmp_path_factory.mktemp("attacks")
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    for attack in ATTACKS:
        (subs / f"{attack.name}.ipynb").write_bytes(attack.make(release))
    gradebook = grading_root(fixture_lab) / "gradebook.db"
    before = _digest(gradebook)
    out = tmp_path_factory.mktemp("attack-grades")
    results = grade_batch(fixture_lab, subs, out, params=PARAMS, limits=LIMITS, workers=2)
    return out, {r.student: r for r in results}, (gradebook, before)


def test_corpus_is_broad():
    assert len(ATTACKS) >= 25
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack_gains_nothing(attacked, attack):
    _, results, _ = attacked
    result = results[attack.name]
    said = result.message + " | " + " | ".join(e.message for e in result.exercises)
    assert str(result.status) in attack.status.split("|"), said
    if attack.at_most:
        assert result.score <= attack.score, said
    else:
        assert result.score == attack.score, said
    assert attack.message_has in said, said
    for limit in attack.limits:
        assert limit in result.limits_hit, (result.limits_hit, said)
    assert result.sandbox == sandbox.detect()[0]


def test_every_submission_has_a_result_and_the_gradebook_is_intact(attacked):
    out, results, (gradebook, before) = attacked
    assert set(results) == {a.name for a in ATTACKS}
    assert _digest(gradebook) == before
    paths = write_reports(list(results.values()), "fx_basic", out)
    assert len(list(paths["feedback"].glob("*.html"))) == len(ATTACKS)


def test_nothing_was_written_outside(attacked):
    out, _, _ = attacked
    assert not (REPO_ROOT / "PWNED.txt").exists()
    assert not list(out.rglob("PWNED.txt"))


def test_attacks_are_flagged_for_review(attacked):
    _, results, _ = attacked
    assert "ipython-hooks" in results["input_transformer"].flags
    assert "tracing" in results["settrace"].flags
    assert "early-exit" in results["ask_exit"].flags
    assert results["fork_bomb"].flags == []
