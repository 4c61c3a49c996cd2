"""course.yaml matches the syllabus and is internally consistent."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import catalog
from autograder.paths import REPO_ROOT, SYLLABUS
from autograder.syllabus import load_syllabus, parse_syllabus

SHARED_SYLLABUS = REPO_ROOT.parent / "shared" / "course" / "syllabus.md"


def test_course_yaml_has_all_128_modules_as_in_the_syllabus():
    syllabus = load_syllabus(SYLLABUS)
    modules = catalog.load_modules()
    assert len(syllabus) == 128
    assert [m.number for m in modules] == list(range(1, 129))
    for mod, syl in zip(modules, syllabus, strict=True):
        assert mod.title == syl.title, f"module {mod.number}: title differs from the syllabus"
        assert list(mod.bullets) == syl.bullets, f"module {mod.number}: bullets differ from the syllabus"


@pytest.mark.skipif(not SHARED_SYLLABUS.exists(), reason="no shared/ checkout beside the repo")
def test_vendored_syllabus_is_the_clients_copy():
    assert SYLLABUS.read_text() == SHARED_SYLLABUS.read_text()


def test_lab_ids_are_unique_and_numbered():
    modules = catalog.load_modules()
    labs = [m.lab for m in modules]
    assert len(set(labs)) == len(labs)
    for m in modules:
        assert m.lab.startswith(f"m{m.number:03d}_")


def test_done_labs_have_source_notebook_and_covers_every_bullet():
    for m in catalog.load_modules():
        if not m.done:
            continue
        assert m.solution_path.exists(), f"{m.lab} is done but has no solutions/{m.lab}.py"
        assert m.notebook_path.exists(), f"{m.lab} is done but has no labs/{m.lab}.ipynb"
        assert set(m.covers) == set(m.bullets), f"{m.lab}: course.yaml 'covers' must map every bullet"


def test_find_accepts_numbers_ids_and_paths():
    first = catalog.modules()[0]
    assert catalog.find("1") is first
    assert catalog.find(1) is first
    assert catalog.find("m001") is first
    assert catalog.find(first.lab) is first
    assert catalog.find(f"labs/{first.lab}.ipynb") is first
    with pytest.raises(catalog.UnknownLab, match="no lab matches"):
        catalog.find("999")


def test_parse_syllabus_stops_bullets_at_next_heading():
    text = "## Module 1: A\n- one\n- two\n\n## Course Summary\n- not a bullet of A\n## Module 2: B\n- three\n"
    mods = parse_syllabus(text)
    assert [(m.number, m.title, m.bullets) for m in mods] == [(1, "A", ["one", "two"]), (2, "B", ["three"])]


def test_services_for_is_the_union():
    mods = [m for m in catalog.modules() if m.number in (1, 21)]
    union = catalog.services_for(mods)
    assert set(union) == set(mods[0].services) | set(mods[1].services)
    assert union == sorted(union)


def test_invalid_status_is_rejected(tmp_path: Path):
    bad = tmp_path / "course.yaml"
    bad.write_text("modules:\n- {number: 1, title: T, lab: m001_t, status: finished}\n")
    with pytest.raises(ValueError, match="status 'finished'"):
        catalog.load_modules(bad)
