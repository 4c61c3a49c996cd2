"""Fixtures for the container tests: podman's API socket and a locally built image."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder.services import podman

FIXTURES = Path(__file__).parent / "fixtures"


def _need_podman() -> None:
    """Skip (naming what is missing) where podman isn't set up; LABS_REQUIRE_PODMAN=1 makes it a failure."""
    reason = None
    missing = podman.missing_tools()
    if missing:
        reason = f"podman not set up: {', '.join(missing)} missing (run `{podman.INSTALL_HINT}`)"
    elif os.geteuid() != 0 and not podman.base_tarball().exists():
        reason = f"the base image needs root once (debootstrap): run `sudo {podman.INSTALL_HINT}`"
    if reason:
        if os.environ.get("LABS_REQUIRE_PODMAN") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """podman's Docker API on a socket in a private state dir; DOCKER_HOST points at it."""
    _need_podman()
    state = tmp_path_factory.mktemp("labs-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABS_STATE_DIR", str(state))
        host = podman.ensure_podman_socket()
        mp.setenv("DOCKER_HOST", host)
        try:
            yield host
        finally:
            podman.stop_podman_socket()


@pytest.fixture(scope="session")
def base_image() -> str:
    _need_podman()
    return podman.ensure_base_image()  # ~30 s-2 min once, then cached outside the repo


@pytest.fixture(scope="session")
def http_image(base_image: str) -> str:
    """python3 -m http.server on port 8000, built FROM the debootstrap base (layer-cached)."""
    tag = f"{podman.IMAGE_PREFIX}/test-http-server:{base_image.rsplit(':', 1)[1]}"
    return podman.build_image(FIXTURES / "http-server", tag, build_args={"BASE": base_image})
