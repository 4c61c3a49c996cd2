"""`labs progress`: where a student stands on every module of the course."""

from __future__ import annotations

from pathlib import Path

import nbformat

from autograder.catalog import Module
from autograder.runner import load_progress

PLACEHOLDER = "raise NotImplementedError()"


def attempted(notebook: Path) -> bool:
    """True once any answer cell no longer holds the blank placeholder."""
    try:
        nb = nbformat.read(str(notebook), as_version=4)
    except Exception:  # an unreadable notebook was certainly touched
        return True
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and PLACEHOLDER not in cell.source:
            return True
    return False


def module_state(module: Module, checks: dict) -> tuple[str, str]:
    """(state, score) for one module: no lab yet / not started / attempted / checked."""
    if module.lab in checks:
        rec = checks[module.lab]
        return f"checked ({rec['status']}, {rec['checked_at']})", f"{rec['score']:g}/{rec['max_score']:g}"
    if not module.notebook_path.exists():
        return "no lab yet", ""
    return ("attempted" if attempted(module.notebook_path) else "not started"), ""


def progress_rows(modules: list[Module]) -> list[dict]:
    checks = load_progress()
    rows = []
    for module in modules:
        state, score = module_state(module, checks)
        rows.append({"number": module.number, "lab": module.lab, "title": module.title, "state": state, "score": score})
    return rows
