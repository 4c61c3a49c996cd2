"""Grading a fixture class end to end: every outcome, the batch never breaks, reruns resume."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.build import LabSource
from autograder.grading.autograde import Limits
from autograder.grading.batch import grade_batch
from autograder.grading.outcomes import Status
from autograder.grading.report import write_reports
from tests.conftest import FIXTURE_SOURCE
from tests.fixtures.submissions import CASES, MEAN_OK

LIMITS = Limits(cell_timeout=5, wall_limit=60)
PARAMS = {"RUN_ID": "r42", "FAST": True}


@pytest.fixture(scope="module")
def graded(fixture_lab: LabSource, fixture_class: Path, tmp_path_factory):
    out = tmp_path_factory.mktemp("grades")
    results = grade_batch(fixture_lab, fixture_class, out, params=PARAMS, limits=LIMITS, workers=2)
    return out, {r.student: r for r in results}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_submission_gets_its_outcome(graded, case):
    _, results = graded
    result = results[case.name]
    said = result.message + " | " + " | ".join(e.message for e in result.exercises)
    assert str(result.status) == case.status, said
    assert result.score == case.score, said
    assert case.message_has in said
    assert result.max_score == 10


def test_the_whole_class_is_graded(graded, fixture_class: Path):
    _, results = graded
    assert set(results) == {p.stem for p in fixture_class.glob("*.ipynb")}


def test_crash_and_timeout_say_which_cell(graded):
    _, results = graded
    assert "while running cell 4" in results["os_exit"].message
    assert results["infinite_loop"].limits_hit == ["cell_timeout"]


def test_rerun_resumes_without_regrading(graded, fixture_lab: LabSource, fixture_class: Path):
    out, first = graded
    seen: list[tuple[str, bool]] = []
    again = grade_batch(
        fixture_lab,
        fixture_class,
        out,
        params=PARAMS,
        limits=LIMITS,
        on_result=lambda r, c: seen.append((r.student, c)),
    )
    assert all(cached for _, cached in seen) and len(seen) == len(CASES)
    assert {r.student: r.to_json() for r in again} == {k: v.to_json() for k, v in first.items()}


def test_a_killed_batch_regrades_only_what_is_missing(fixture_lab: LabSource, tmp_path: Path):
    subs = tmp_path / "subs"
    subs.mkdir()
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    for case in CASES[:3]:
        (subs / f"{case.name}.ipynb").write_bytes(case.make(release))
    out = tmp_path / "out"
    first = grade_batch(fixture_lab, subs, out, params=PARAMS, limits=LIMITS)
    (out / "results" / "blank.json").unlink()  # never finished
    (out / "results" / "correct.json").write_text('{"student": "corr')  # torn write
    regraded: list[str] = []
    second = grade_batch(
        fixture_lab,
        subs,
        out,
        params=PARAMS,
        limits=LIMITS,
        on_result=lambda r, cached: None if cached else regraded.append(r.student),
    )
    assert sorted(regraded) == ["blank", "correct"]
    assert [(r.student, r.score) for r in second] == [(r.student, r.score) for r in first]


def test_changed_submission_is_regraded(fixture_lab: LabSource, tmp_path: Path):
    subs = tmp_path / "subs"
    subs.mkdir()
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    (subs / "ann.ipynb").write_bytes(CASES[1].make(release))  # blank
    out = tmp_path / "out"
    assert grade_batch(fixture_lab, subs, out, params=PARAMS, limits=LIMITS)[0].score == 0
    (subs / "ann.ipynb").write_bytes(CASES[0].make(release))  # now correct
    assert grade_batch(fixture_lab, subs, out, params=PARAMS, limits=LIMITS)[0].score == 10


def test_wall_limit_stops_a_kernel_that_ignores_interrupts(fixture_lab: LabSource, tmp_path: Path):
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    nb = nbformat.from_dict(json.loads(CASES[0].make(release)))
    stubborn = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    next(c for c in nb.cells if c.id == "mean").source = stubborn
    subs = tmp_path / "subs"
    subs.mkdir()
    nbformat.write(nb, str(subs / "stubborn.ipynb"))
    [result] = grade_batch(
        fixture_lab, subs, tmp_path / "out", params=PARAMS, limits=Limits(cell_timeout=20, wall_limit=8)
    )
    assert result.status == Status.TIMEOUT
    assert "wall_limit" in result.limits_hit
    assert "8 s limit" in result.message


def _hidden_and_solution_lines(source: Path) -> list[str]:
    text = source.read_text()
    blocks = re.findall(r"### BEGIN (?:HIDDEN TESTS|SOLUTION)\n(.*?)### END", text, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if len(line.strip()) > 8]


def test_reports_csv_json_and_feedback_without_hidden_code(graded):
    out, results = graded
    paths = write_reports(list(results.values()), "fx_basic", out)
    rows = list(csv.DictReader(paths["csv"].open()))
    assert list(rows[0]) == ["student", "status", "mean", "run_name", "total", "max_score", "message"]
    by_student = {r["student"]: r for r in rows}
    assert by_student["correct"]["total"] == "10.0" and by_student["os_exit"]["status"] == "crashed"
    data = json.loads(paths["json"].read_text())
    assert data["summary"]["submissions"] == len(CASES)
    secret_lines = _hidden_and_solution_lines(FIXTURE_SOURCE)
    assert secret_lines, "the fixture must have hidden tests to make this check meaningful"
    for page in paths["feedback"].glob("*.html"):
        html_text = page.read_text()
        for line in secret_lines:
            assert line not in html_text, f"{page.name} leaks {line!r}"
    wrong = (paths["feedback"] / "wrong_plausible.html").read_text()
    assert "should be 1.0" in wrong and "6 / 10" in wrong


def test_zip_with_student_folders_and_a_wrapper(fixture_lab: LabSource, tmp_path: Path):
    release = nbformat.read(str(fixture_lab.released), as_version=4)
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/ann/fx_basic.ipynb", CASES[0].make(release))
        zf.writestr("export/bob/My Lab (1).ipynb", CASES[1].make(release))
        zf.writestr("export/bob/.ipynb_checkpoints/old-checkpoint.ipynb", b"{}")
        zf.writestr("export/cyd/notes.txt", b"forgot to attach")
        zf.writestr("__MACOSX/export/._ann", b"junk")
    results = grade_batch(fixture_lab, archive, tmp_path / "out", params=PARAMS, limits=LIMITS)
    assert {r.student: (str(r.status), r.score) for r in results} == {
        "ann": ("graded", 10.0),
        "bob": ("graded", 0.0),
        "cyd": ("invalid", 0.0),
    }
    assert "no .ipynb" in next(r for r in results if r.student == "cyd").message


def test_unsafe_zip_is_refused(fixture_lab: LabSource, tmp_path: Path):
    from autograder.grading.submissions import SubmissionsError

    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../escape.ipynb", MEAN_OK)
    with pytest.raises(SubmissionsError, match="unsafe entry"):
        grade_batch(fixture_lab, archive, tmp_path / "out", params=PARAMS, limits=LIMITS)
    assert not (tmp_path / "escape.ipynb").exists()


def test_each_student_gets_a_distinct_stable_run_id():
    from autograder.grading.batch import student_params

    base = {"RUN_ID": "m007-abcd1234", "FAST": True}
    ids = {s: student_params(base, s)["RUN_ID"] for s in ("alice", "bob", "carol")}
    assert len(set(ids.values())) == 3, ids
    assert all(v.startswith("m007-abcd1234-") for v in ids.values()), ids
    assert student_params(base, "alice")["RUN_ID"] == ids["alice"], "a rerun must name the same resources"
    assert base["RUN_ID"] == "m007-abcd1234", "the batch's params must not be mutated"
