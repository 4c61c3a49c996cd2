"""Decide whether a submitted file is a gradable notebook, with a message that says why not."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
MAX_CELLS = 2000  # a lab has tens of cells; thousands is padding meant to slow the grader


class InvalidSubmission(ValueError):
    """The file can't be graded; the message is for the student and instructor."""


def load_submission(path: Path) -> NotebookNode:
    """Parse and sanity-check a submission; raise InvalidSubmission with a clear reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidSubmission(f"cannot read {path.name}: {exc.strerror}") from exc
    if size == 0:
        raise InvalidSubmission(f"{path.name} is an empty file, not a notebook")
    if size > MAX_SUBMISSION_BYTES:
        raise InvalidSubmission(
            f"{path.name} is {size / 1e6:.0f} MB; notebooks over {MAX_SUBMISSION_BYTES / 1e6:.0f} MB are "
            "not graded (clear large outputs and resubmit)"
        )
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InvalidSubmission(f"{path.name} is not UTF-8 text (a binary file?)") from exc
    except json.JSONDecodeError as exc:
        raise InvalidSubmission(
            f"{path.name} is corrupt: invalid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from exc
    except RecursionError as exc:
        raise InvalidSubmission(f"{path.name} is nested too deeply to be a notebook") from exc
    if not isinstance(data, dict) or "nbformat" not in data or not ("cells" in data or "worksheets" in data):
        raise InvalidSubmission(f"{path.name} is JSON but not a Jupyter notebook (no cells/nbformat)")
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except RecursionError as exc:
        raise InvalidSubmission(f"{path.name} is nested too deeply to be a notebook") from exc
    except Exception as exc:  # nbformat raises several types for malformed notebooks
        raise InvalidSubmission(f"{path.name} is not a valid notebook: {exc}") from exc
    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get("language_info", {}).get("name")
    if language and language.lower() != "python":
        raise InvalidSubmission(
            f"{path.name} uses a {language} kernel; this lab is graded with Python "
            "(open the lab's notebook from labs/ and work in it)"
        )
    if not nb.cells:
        raise InvalidSubmission(f"{path.name} has no cells (open the lab's notebook from labs/ and work in it)")
    if len(nb.cells) > MAX_CELLS:
        raise InvalidSubmission(f"{path.name} has {len(nb.cells)} cells; over {MAX_CELLS} is not graded")
    for index, cell in enumerate(nb.cells):
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission(f"{path.name}: cell {index} has unknown type {cell.get('cell_type')!r}")
    return nb
