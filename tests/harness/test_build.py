"""`labs build`: deterministic student notebooks, no answers in them, and a check mode that catches drift."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from autograder.build import LabSource, build_labs, orphan_notebooks
from tests.conftest import FIXTURE_SOURCE


def test_release_strips_solutions_and_hidden_tests(fixture_lab: LabSource):
    text = fixture_lab.released.read_text()
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    assert "sum(xs) / len(xs)" not in text
    assert "mean([-4, 4, 9])" not in text  # a hidden assert
    assert "mean([1, 2, 3]) == 2" in text  # the visible self-check stays
    nb = nbformat.read(str(fixture_lab.released), as_version=4)
    answer = next(c for c in nb.cells if c.id == "mean")
    assert "raise NotImplementedError()" in answer.source
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


def test_build_is_byte_deterministic(fixture_lab: LabSource, tmp_path: Path):
    again = LabSource("fx_basic", FIXTURE_SOURCE, tmp_path / "fx_basic.ipynb")
    assert build_labs([again]) == []
    assert again.released.read_bytes() == fixture_lab.released.read_bytes()


def test_check_mode_reports_drift_and_writes_nothing(tmp_path: Path):
    source = tmp_path / "fx_basic.py"
    shutil.copy(FIXTURE_SOURCE, source)
    lab = LabSource("fx_basic", source, tmp_path / "labs" / "fx_basic.ipynb")
    assert build_labs([lab], check=True) == [f"{lab.released}: missing (run `labs build`)"]
    assert not lab.released.exists()
    assert build_labs([lab]) == []
    assert build_labs([lab], check=True) == []
    source.write_text(source.read_text().replace("Exercise 2: a tagged run name", "Exercise 2: renamed"))
    before = lab.released.read_bytes()
    assert build_labs([lab], check=True) == [f"{lab.released}: out of date (run `labs build`)"]
    assert lab.released.read_bytes() == before


def test_orphan_notebooks_are_found(tmp_path: Path):
    (tmp_path / "m999_gone.ipynb").write_text("{}")
    lab = LabSource("fx_basic", FIXTURE_SOURCE, tmp_path / "fx_basic.ipynb")
    lab.released.write_text("{}")
    assert orphan_notebooks([lab], tmp_path) == [tmp_path / "m999_gone.ipynb"]
