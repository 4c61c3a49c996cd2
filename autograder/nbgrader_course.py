"""A throwaway nbgrader course directory, driven through nbgrader's Python API.

nbgrader wants a course layout (source/, release/, submitted/, autograded/)
and a gradebook. We make one per build or per grading worker in a temp dir,
run the converters in-process (the CLI pays seconds of imports per call) and
read the results back. Nothing here is shared between processes, so grading
workers never contend for one SQLite gradebook.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from traitlets.config import Config

COURSE_ID = "mlops-course"

# nbgrader shells out to `alembic` when it creates a gradebook; make sure the one
# installed beside this interpreter is found even when the venv is not activated.
_BIN_DIR = str(Path(sys.executable).parent)
if _BIN_DIR not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN_DIR + os.pathsep + os.environ.get("PATH", "")


class NbgraderFailed(RuntimeError):
    """An nbgrader converter failed; `log` holds what it printed."""

    def __init__(self, message: str, log: str) -> None:
        super().__init__(message)
        self.log = log


def base_config(root: Path) -> Config:
    config = Config()
    config.CourseDirectory.root = str(root)
    config.CourseDirectory.course_id = COURSE_ID
    config.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    # Our own checks enforce structure; the nbgrader header/footer feature is unused.
    config.IncludeHeaderFooter.header = ""
    config.IncludeHeaderFooter.footer = ""
    return config


@contextmanager
def captured_log(app) -> Iterator[io.StringIO]:
    """Collect an nbgrader app's log in memory instead of the console."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.INFO)
    app.log.addHandler(handler)
    app.log.propagate = False
    try:
        yield stream
    finally:
        app.log.removeHandler(handler)


def run_converter(app) -> str:
    """Run a converter; raise NbgraderFailed with its log when it fails."""
    from nbgrader.converters.base import NbGraderException

    with captured_log(app) as stream:
        try:
            app.start()
        except NbGraderException as exc:
            raise NbgraderFailed(str(exc) or "nbgrader failed", stream.getvalue()) from exc
        return stream.getvalue()


def write_notebook(nb: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def generate_assignment(root: Path, lab_id: str, source_nb: NotebookNode) -> NotebookNode:
    """Put the source notebook in `root`, run generate_assignment, return the release notebook.

    The gradebook at root/gradebook.db then holds the lab's graded cells,
    including hidden tests, which autograde restores.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    source_dir = root / "source" / lab_id
    if source_dir.exists():
        shutil.rmtree(source_dir)
    write_notebook(source_nb, source_dir / f"{lab_id}.ipynb")
    config = base_config(root)
    config.CourseDirectory.assignment_id = lab_id
    coursedir = CourseDirectory(config=config)
    app = GenerateAssignment(coursedir=coursedir, config=config)
    app.force = True
    app.create_assignment = True
    run_converter(app)
    return nbformat.read(str(root / "release" / lab_id / f"{lab_id}.ipynb"), as_version=4)
