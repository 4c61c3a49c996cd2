"""Lab parameters: what papermill injects after a lab's `parameters` cell.

Labs read their endpoints and knobs from the environment with local
defaults; for graded and CI runs the harness injects explicit values with
papermill (prepare_only: parameters only, no execution here) and exports the
same values to the kernel's environment.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

from nbformat import NotebookNode

from autograder.paths import DATA_DIR, ENDPOINTS_ENV

_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def read_env_file(path: Path = ENDPOINTS_ENV) -> dict[str, str]:
    """KEY=VALUE lines (the services' endpoints); missing file means no services running."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        if _NAME.match(key):
            values[key] = value.strip().strip('"').strip("'")
    return values


def lab_parameters(run_id: str, fast: bool, data_dir: Path | None = None, endpoints: dict | None = None) -> dict:
    """Everything a lab may read: run id, data dir, fast flag, service endpoints."""
    params: dict[str, object] = dict(endpoints if endpoints is not None else read_env_file())
    params.update({"RUN_ID": run_id, "FAST": fast, "DATA_DIR": str(data_dir or DATA_DIR)})
    return params


def as_environment(params: dict) -> dict[str, str]:
    """The same parameters as environment variables (FAST as "1"/"0")."""
    env = {}
    for key, value in params.items():
        env[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return env


def parameters_cell_index(nb: NotebookNode) -> int | None:
    for index, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return index
    return None


def inject(nb: NotebookNode, params: dict) -> NotebookNode:
    """A copy of `nb` with papermill's injected-parameters cell after the parameters cell."""
    from papermill.parameterize import parameterize_notebook

    nb = copy.deepcopy(nb)
    nb.metadata.setdefault("papermill", {})
    for cell in nb.cells:  # papermill expects every cell to carry a tags list
        cell.metadata.setdefault("tags", [])
    injected = parameterize_notebook(nb, params, kernel_name="python3", language="python")
    injected.metadata.pop("papermill", None)  # keep run-specific values out of notebook metadata
    for cell in injected.cells:
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
        cell.metadata.pop("papermill", None)
    return injected
