"""`labs build`: solutions/<lab>.py -> labs/<lab>.ipynb through nbgrader's generate_assignment.

The output is byte-deterministic (stable cell ids, sorted JSON, no outputs),
so `labs build --check` can prove labs/ is in sync with solutions/.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.authoring import read_source
from autograder.nbgrader_course import generate_assignment
from autograder.paths import LABS_DIR, SOLUTIONS_DIR, STATE_DIR

LAB_POINTS = 10  # every course lab totals the same, so progress reads at a glance


@dataclass(frozen=True)
class LabSource:
    """Where one lab's text source lives and where its student notebook goes."""

    lab_id: str
    source: Path
    released: Path
    expected_points: float | None = LAB_POINTS

    @classmethod
    def for_lab(cls, lab_id: str) -> LabSource:
        return cls(lab_id, SOLUTIONS_DIR / f"{lab_id}.py", LABS_DIR / f"{lab_id}.ipynb")

    def compiled(self) -> NotebookNode:
        return read_source(self.source, self.expected_points)

    def source_hash(self) -> str:
        return hashlib.sha256(self.source.read_bytes()).hexdigest()[:16]


def serialize(nb: NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def render_release(lab: LabSource, workdir: Path) -> str:
    """The student notebook's exact text, generated in `workdir`."""
    release = generate_assignment(workdir, lab.lab_id, lab.compiled())
    release.metadata.pop("nbgrader", None)
    return serialize(release)


def build_labs(labs: list[LabSource], check: bool = False) -> list[str]:
    """Write (or, with check, compare) each lab's student notebook; return problems found."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="labs-build-") as tmp:
        for lab in labs:
            text = render_release(lab, Path(tmp))
            current = lab.released.read_text(encoding="utf-8") if lab.released.exists() else None
            if current == text:
                continue
            if check:
                state = "missing" if current is None else "out of date"
                problems.append(f"{lab.released}: {state} (run `labs build`)")
            else:
                lab.released.parent.mkdir(parents=True, exist_ok=True)
                lab.released.write_text(text, encoding="utf-8")
    return problems


def orphan_notebooks(labs: list[LabSource], labs_dir: Path = LABS_DIR) -> list[Path]:
    """Notebooks in labs/ that no source generates (left behind by a rename)."""
    expected = {lab.released.resolve() for lab in labs}
    return sorted(p for p in labs_dir.glob("*.ipynb") if p.resolve() not in expected)


def all_lab_sources(solutions_dir: Path = SOLUTIONS_DIR) -> list[LabSource]:
    return [LabSource.for_lab(p.stem) for p in sorted(solutions_dir.glob("m[0-9][0-9][0-9]_*.py"))]


def grading_root(lab: LabSource, cache_dir: Path | None = None, visible_only: bool = False) -> Path:
    """A course dir whose gradebook knows this lab, cached per source.

    Normally built from the solution source, so autograde restores hidden
    tests. With visible_only (a student bundle has no solutions/), it is built
    from the released notebook: the same checks the student sees, no more.
    """
    cache_dir = cache_dir or STATE_DIR / "grading"
    if visible_only:
        notebook = nbformat.read(str(lab.released), as_version=4)
        key = "visible-" + hashlib.sha256(lab.released.read_bytes()).hexdigest()[:16]
    else:
        notebook, key = lab.compiled(), lab.source_hash()
    root = cache_dir / f"{lab.lab_id}-{key}"
    if (root / "READY").exists():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{lab.lab_id}-", dir=cache_dir))
    generate_assignment(tmp, lab.lab_id, notebook)
    (tmp / "READY").write_text("ok\n")
    try:
        tmp.rename(root)
    except OSError:  # another process won the race; theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    return root
