"""Flag student code that reaches for the grader's machinery, for an instructor to look at.

The guard (guard.py) undoes these hooks before each check; a flag records that
the submission tried, since a student who studies the grader may find a way
around an in-kernel guard. Flags never change a score.
"""

from __future__ import annotations

import re

from nbformat import NotebookNode

PATTERNS: dict[str, str] = {
    "ipython-hooks": r"input_transformers|ast_transformers|set_custom_exc|events\s*\.\s*register|"
    r"register_magic|shell_handlers|CustomTB|custom_exceptions|transform_cell|run_cell",
    "tracing": r"\bsys\s*\.\s*(settrace|setprofile)|threading\s*\.\s*(settrace|setprofile)",
    "grader-internals": r"_labs_guard|gradebook|nbgrader",
    "early-exit": r"ask_exit|\bos\s*\.\s*_exit|SystemExit|\bsys\s*\.\s*exit|os\s*\.\s*kill|getppid",
    "builtins-patching": r"\bbuiltins\b|__builtins__",
    "solutions-access": r"solutions/|\.\./",
}
_COMPILED = {name: re.compile(pattern) for name, pattern in PATTERNS.items()}


def flags(nb: NotebookNode) -> list[str]:
    """Names of the patterns found in the student's own code (answer cells and cells they added)."""
    found: set[str] = set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or (meta.get("locked") and not meta.get("solution")):
            continue
        if meta.get("grade") and not meta.get("solution"):
            continue  # a check cell: its source is restored from the gradebook
        source = cell.get("source", "")
        found |= {name for name, pattern in _COMPILED.items() if pattern.search(source)}
    return sorted(found)
