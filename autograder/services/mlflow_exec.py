"""`mlflow server`, but the CLI process becomes the uvicorn server (exec) instead of waiting on it.

The stock CLI keeps a ~250 MB Python parent alive only to forward signals; exec'ing
uvicorn in its place halves the tracking server's memory. If a future MLflow
moves its spawn helper, this falls back to the stock behaviour.
Usage: python -m autograder.services.mlflow_exec server --host ... (same args as `mlflow`).
"""

from __future__ import annotations

import os
import sys
from typing import Any


def _exec_cmd(cmd: list[str], extra_env: dict[str, str] | None = None, **_: Any) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(cmd[0], cmd, {**os.environ, **(extra_env or {})})


def main() -> None:
    import mlflow.server
    from mlflow.cli import cli

    if hasattr(mlflow.server, "_exec_cmd"):
        mlflow.server._exec_cmd = _exec_cmd
    cli(sys.argv[1:], prog_name="mlflow")


if __name__ == "__main__":
    main()
