"""Session fixtures: every service the collected tests name is started once, natively, together.

Tests declare what they need with `@pytest.mark.services("redis", ...)`. The stack
runs in a private state dir (LABS_STATE_DIR) and is torn down at session end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from autograder.services import commands
from autograder.services.base import Running
from autograder.services.state import load_state


def _requested(session: pytest.Session) -> list[str]:
    names: list[str] = []
    for item in session.items:
        for mark in item.iter_markers("services"):
            names += [n for n in mark.args if n not in names]
    return names


@pytest.fixture(scope="session")
def labs_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = str(tmp_path_factory.mktemp("labs-state"))
    old = os.environ.get("LABS_STATE_DIR")
    os.environ["LABS_STATE_DIR"] = path
    yield path
    if old is None:
        os.environ.pop("LABS_STATE_DIR", None)
    else:
        os.environ["LABS_STATE_DIR"] = old


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest, labs_state_dir: str) -> Iterator[dict[str, str]]:
    """Starts the union of requested services once; exports their env vars like a lab kernel sees them."""
    names = _requested(request.session)
    saved = dict(os.environ)
    try:
        env = commands.up(names, quiet=False)
        os.environ.update(env)
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.environ["LABS_STATE_DIR"] = labs_state_dir
        commands.down(quiet=True)


@pytest.fixture(scope="session")
def running(stack: dict[str, str]) -> dict[str, Running]:
    return load_state()
