"""`labs bundle`: the zip students receive for a graded class.

It holds the student notebooks, the dataset generators, the harness and the
project files to install it, and nothing that gives answers away: no
solutions/, no tests/ (their fixtures contain solutions), no gradebooks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from autograder.paths import REPO_ROOT

INCLUDE = [
    "README.md",
    "Makefile",
    "pyproject.toml",
    "constraints.txt",
    "environment.yml",
    "course.yaml",
    "docs",
    "labs",
    "autograder",
    "datasets",
    "docker",
    "infra-snippets",
    "scripts",
]
EXCLUDED_PARTS = {"__pycache__", ".ipynb_checkpoints", "tests", ".pytest_cache", ".ruff_cache"}
# text that only a solution source or a hidden test carries
FORBIDDEN_MARKERS = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")


class BundleLeak(RuntimeError):
    """A file about to go into the student bundle carries a solution or hidden test."""


def bundle_files(root: Path = REPO_ROOT) -> list[Path]:
    files: list[Path] = []
    for name in INCLUDE:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and not EXCLUDED_PARTS.intersection(p.relative_to(root).parts) and p.suffix != ".pyc"
            )
    return files


def make_bundle(out: Path, root: Path = REPO_ROOT) -> list[str]:
    """Write the zip; refuse (and write nothing) if any file carries solution markers."""
    files = bundle_files(root)
    for path in files:
        if path.suffix in (".ipynb", ".py", ".md", ".txt", ".yaml", ".yml"):
            text = path.read_text(encoding="utf-8", errors="ignore")
            leaked = [m for m in FORBIDDEN_MARKERS if m in text and not _is_harness_code(path, root)]
            if leaked:
                raise BundleLeak(f"{path.relative_to(root)} contains {leaked[0]!r}; not bundling")
    names = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            name = str(path.relative_to(root))
            zf.write(path, f"mlops-labs/{name}")
            names.append(name)
    return names


def _is_harness_code(path: Path, root: Path) -> bool:
    """The harness names the markers to parse them; that is not a leak."""
    return path.relative_to(root).parts[0] == "autograder"
