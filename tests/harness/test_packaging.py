"""pyproject.toml, constraints.txt, environment.yml and the Makefile agree with each other."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from autograder.paths import REPO_ROOT


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_every_dependency_is_pinned_within_its_range():
    project = _pyproject()["project"]
    pins = _pins()
    requirements = list(project["dependencies"])
    for group in project["optional-dependencies"].values():
        requirements += group
    for raw in requirements:
        req = Requirement(raw)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is not pinned in constraints.txt"
        assert SpecifierSet(str(req.specifier)).contains(pins[name]), (
            f"{req.name}=={pins[name]} in constraints.txt is outside pyproject's {req.specifier}"
        )


def test_environment_yml_matches_python_and_extras():
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    assert SpecifierSet(_pyproject()["project"]["requires-python"]).contains(python.split("=")[1] + ".0")
    pip_lines = next(d for d in deps if isinstance(d, dict))["pip"]
    assert "-c constraints.txt" in pip_lines
    makefile_extras = re.search(r"^EXTRAS := (.+)$", (REPO_ROOT / "Makefile").read_text(), re.M).group(1).strip()
    assert f"-e .[{makefile_extras}]" in pip_lines
    assert set(makefile_extras.split(",")) == set(_pyproject()["project"]["optional-dependencies"])


def test_ci_calls_the_readme_test_command():
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in (REPO_ROOT / "README.md").read_text()
    assert "make lab" in (REPO_ROOT / "README.md").read_text()
