"""What `make lab` opens: JupyterLab on labs/ with the nbgrader and widgets extensions, bound to loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import labkit
from autograder.paths import LABS_DIR

BIN = Path(sys.executable).parent


def test_nbgrader_and_widgets_extensions_are_enabled():
    out = subprocess.run([str(BIN / "jupyter"), "labextension", "list"], capture_output=True, text=True, timeout=120)
    listing = out.stdout + out.stderr
    for extension in ("@jupyter/nbgrader", "@jupyter-widgets/jupyterlab-manager"):
        line = next((ln for ln in listing.splitlines() if extension in ln), "")
        assert "enabled" in line and "OK" in line, f"{extension} is not enabled: {line or 'missing'}"


def test_jupyterlab_serves_the_labs_folder_on_loopback(tmp_path: Path):
    port, token = labkit.free_port(), "test-token"
    cmd = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        f"--notebook-dir={LABS_DIR}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]
    server = labkit.start_process(
        "jupyterlab",
        cmd,
        log_dir=tmp_path,
        timeout=120,
        env={"JUPYTER_RUNTIME_DIR": str(tmp_path)},
        ready=lambda: labkit.net.http_status(f"http://127.0.0.1:{port}/api/status?token={token}") == 200,
    )
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=10) as resp:
            names = {item["name"] for item in json.load(resp)["content"]}
        assert {p.name for p in LABS_DIR.glob("*.ipynb")} <= names
        assert labkit.net.http_status(f"http://127.0.0.1:{port}/api/contents") == 403, "no token must be refused"
    finally:
        server.stop()
